import Testing
import WeftNATS

@Suite("NATS configuration and names")
struct NATSConfigurationTests {
    @Test("A URL's options are read, its credentials never shown")
    func options() throws {
        let configuration = try NATSConfiguration(url: "nats://weft:s3cret@127.0.0.1:4222?ack-wait=12")
        #expect(configuration.ackWait == .seconds(12))
        #expect(configuration.url == "nats://weft:s3cret@127.0.0.1:4222")
        #expect(configuration.redactedURL == "nats://weft:***@127.0.0.1:4222")
        #expect(!configuration.usesTLS)
        let token = try NATSConfiguration(url: "nats://t0ken@host:4222")
        #expect(!token.redactedURL.contains("t0ken"))
        #expect(try NATSConfiguration(url: "tls://host:4222").usesTLS)
    }

    @Test("Bad URLs and options are refused with errors that name them, without the password")
    func refusals() {
        for url in ["http://host", "nats://", "nats://host?ack-wait=0", "nats://host?ack-wait=nan", "nats://host?colour=red",
            "nats://host?cert=/etc/hostname", "nats://host?ca=/no/such/file", "nats://u:pw1@host?bogus=1"]
        {
            #expect(throws: NATSError.self) { try NATSConfiguration(url: url) }
            do { _ = try NATSConfiguration(url: url) } catch { #expect(!"\(error)".contains("pw1")) }
        }
    }
}
