#if canImport(Glibc)
import Glibc
#endif

/// Gives the heap's free memory back to the operating system (glibc's `malloc_trim`), as an
/// idle worker does to keep its resident memory small. Does nothing where the C library has no
/// such call.
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        #if canImport(Glibc)
        // Looked up at run time: <malloc.h> is not part of the Glibc module.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    /// Trims the heap; returns whether memory was given back.
    @discardableResult
    static func run() -> Bool { (trim?(0) ?? 0) != 0 }
}
