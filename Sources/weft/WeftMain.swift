import WeftCLI

/// The `weft` executable; its logic lives in `WeftCLI`.
@main
struct WeftMain {
    static func main() async {
        await WeftCommand.main()
    }
}
