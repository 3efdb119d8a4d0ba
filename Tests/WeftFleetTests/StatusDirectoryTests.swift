import Foundation
import Testing
@testable import WeftFleet

/// The status directory holds the foreman's settings for its workers, broker password included
/// (issue 24, case 6: with a PostgreSQL store it defaulted to `/var/tmp/weft-fleet-<prefix>`; a
/// local user who made that directory first, mode 0777, could swap the workers' settings for a
/// broker of their own and collect root's password). It must be this user's alone.
@Suite("Status directory: this user's alone")
struct StatusDirectoryTests {
    /// A scratch directory, removed at the end.
    final class Scratch {
        let path: String
        init() {
            path = NSTemporaryDirectory() + "weft-status-" + UUID().uuidString
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    }

    /// The message of the problem `prepare()` reports, if any.
    static func refusal(_ path: String) -> String? {
        do {
            try FleetStatusDirectory(path: path).prepare()
            return nil
        } catch {
            return error.problems.map(\.message).joined(separator: "; ")
        }
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        _ = stat(path, &info)
        return info.st_mode & 0o7777
    }

    @Test("A missing directory is created 0700 and accepted; reports and secrets are written in it")
    func created() throws {
        let scratch = Scratch()
        let path = scratch.sub("a/b/fleet")
        #expect(Self.refusal(path) == nil)
        #expect(Self.mode(path) == 0o700)
        try FleetStatusDirectory(path: path).write(Data("{}".utf8), as: "worker-configuration.json", permissions: 0o600)
        #expect(Self.mode((path as NSString).appendingPathComponent("worker-configuration.json")) == 0o600)
    }

    @Test("A directory others can write to, a symbolic link, or one inside a directory anyone can replace it in is refused")
    func unsafeModes() throws {
        let scratch = Scratch()
        let open = scratch.sub("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)
        #expect(Self.refusal(open)?.contains("can be written by other users (mode 777)") == true)
        // Nothing is written there, a secret least of all.
        #expect(throws: ConfigurationError.self) {
            try FleetStatusDirectory(path: open).write(Data("secret".utf8), as: "worker-configuration.json", permissions: 0o600)
        }
        #expect((try FileManager.default.contentsOfDirectory(atPath: open)).isEmpty)

        let target = scratch.sub("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let link = scratch.sub("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(Self.refusal(link)?.contains("symbolic link") == true)

        let shared = scratch.sub("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        chmod(shared, 0o777)
        #expect(Self.refusal((shared as NSString).appendingPathComponent("fleet"))?.contains("which other users can write to") == true)
        // With the sticky bit, as /tmp has, no other user can replace what this user made there.
        chmod(shared, 0o1777)
        #expect(Self.refusal((shared as NSString).appendingPathComponent("fleet")) == nil)
    }

    @Test("A directory or settings file another user made is refused (run as root, which can make one)")
    func foreignOwner() throws {
        guard geteuid() == 0 else { return }  // Only root can give a directory to another user; CI runs as root.
        let scratch = Scratch()
        let theirs = scratch.sub("theirs")
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        #expect(chown(theirs, 65534, 65534) == 0)
        #expect(Self.refusal(theirs)?.contains("belongs to user 65534") == true)

        // The settings file a worker is given: refused when another user wrote it.
        let settings = scratch.sub("settings.json")
        try Data(#"{"broker": "amqp://evil.example:5672"}"#.utf8).write(to: URL(fileURLWithPath: settings))
        #expect(chown(settings, 65534, 65534) == 0)
        let loaded = #expect(throws: ConfigurationError.self) { try FleetConfiguration.load(file: settings, environment: [:]) }
        #expect(loaded?.description.contains("belongs to user 65534") == true)
        #expect(loaded?.description.contains("evil.example") == false)
    }

    @Test("A settings file every user can write to is refused")
    func worldWritableSettings() throws {
        let scratch = Scratch()
        let settings = scratch.sub("settings.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: settings))
        chmod(settings, 0o666)
        let loaded = #expect(throws: ConfigurationError.self) { try FleetConfiguration.load(file: settings, environment: [:]) }
        #expect(loaded?.description.contains("can be written by every user") == true)
        chmod(settings, 0o600)
        #expect(throws: Never.self) { try FleetConfiguration.load(file: settings, environment: [:]) }
    }

    @Test("With a PostgreSQL store the default is this user's: under XDG_RUNTIME_DIR, else the home directory, never a shared /var/tmp name")
    func postgresDefault() {
        #expect(FleetConfiguration.privateDirectory(named: "fleet-weft", environment: ["XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/a"])
            == "/run/user/1000/weft-fleet-weft")
        #expect(FleetConfiguration.privateDirectory(named: "fleet-weft", environment: ["HOME": "/home/a"])
            == "/home/a/.local/state/weft/fleet-weft")
        #expect(FleetConfiguration.privateDirectory(named: "fleet-weft", environment: [:]) == "/var/tmp/weft-fleet-weft-\(geteuid())")
        var configuration = FleetConfiguration()
        configuration.store = "postgres://weft@127.0.0.1/weft"
        #expect(configuration.statusDirectory != "/var/tmp/weft-fleet-weft")
    }
}
