/// How the NATS transport names what it keeps on the server for a Weft queue.
///
/// Queues share a stream per queue prefix (the queue name up to its first dot): the jobs of
/// queue `weft.jobs.default` are messages on subject `weft-q.weft.jobs.default` of stream
/// `WEFT_weft`, taken by the durable pull consumer `weft_djobs_ddefault`; its dead letters are
/// on subject `weft-dl.weft.jobs.default` of stream `WEFT-DL_weft`.
struct NATSNames: Sendable, Hashable {
    /// The Weft queue.
    let queue: String
    /// The stream of the queue's jobs.
    let stream: String
    /// The stream of the queue's dead letters.
    let deadLetterStream: String
    /// The subject of the queue's jobs.
    let subject: String
    /// The subject of the queue's dead letters.
    let deadLetterSubject: String
    /// The durable pull consumer of the queue's jobs.
    let consumer: String
    /// The subjects the queue prefix's streams take: `[jobs, dead letters]`, each the prefix and
    /// every subject below it.
    let streamSubjects: (jobs: [String], deadLetters: [String])

    static func == (lhs: NATSNames, rhs: NATSNames) -> Bool { lhs.queue == rhs.queue }
    func hash(into hasher: inout Hasher) { hasher.combine(queue) }

    /// The names of `queue`; throws for a name that NATS cannot carry as a subject (empty,
    /// with spaces, wildcards or control characters, an empty token, or longer than 200 bytes).
    init(queue: String) throws(NATSError) {
        guard !queue.isEmpty, queue.utf8.count <= 200,
            queue.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "*") && $0 != UInt8(ascii: ">") }),
            !queue.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
        else {
            throw NATSError(
                "NATS: \(queue.debugDescription.prefix(60)) cannot name a queue: printable ASCII without spaces, '*' or '>', "
                    + "dot-separated tokens that are not empty, at most 200 bytes", isPermanent: true)
        }
        self.queue = queue
        let prefix = String(queue.prefix { $0 != "." })
        stream = "WEFT_" + Self.escaped(prefix)
        deadLetterStream = "WEFT-DL_" + Self.escaped(prefix)
        subject = "weft-q." + queue
        deadLetterSubject = "weft-dl." + queue
        consumer = Self.escaped(queue)
        streamSubjects = (["weft-q.\(prefix)", "weft-q.\(prefix).>"], ["weft-dl.\(prefix)", "weft-dl.\(prefix).>"])
    }

    /// `text` as a stream or consumer name (letters, digits, `-` and `_`), one to one: `_`
    /// becomes `__`, `.` becomes `_d`, any other byte `_xHH`.
    static func escaped(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "_"): result += "__"
            case UInt8(ascii: "."): result += "_d"
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "_x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }
}
