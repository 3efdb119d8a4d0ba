import AMQPRawHops
import Foundation
import WeftAMQP

// The peer comparison's physical limit (Benchmarks/peers/compare.sh): the three workloads in
// plain C over librabbitmq on one connection, no Weft, one `RESULT <workload> raw <per second>`
// line each:
//   chains: 64 concurrent chains, each hop consuming, publishing its successor (persistent,
//           confirmed) and acking; hops/s
//   fan:    1 → 100 → 1, one fan at a time; hops/s (102 a fan)
//   tasks:  10,000 independent messages published, consumed and acked; tasks/s
//   peers-raw <amqp-url> [fans=50] [tasks=10000]
let arguments = CommandLine.arguments
guard arguments.count >= 2, let configuration = try? AMQPConfiguration(url: arguments[1]) else {
    print("usage: peers-raw <amqp-url> [fans] [tasks]")
    exit(2)
}
let fans = arguments.count > 2 ? Int32(arguments[2]) ?? 50 : 50
let tasks = arguments.count > 3 ? Int32(arguments[3]) ?? 10_000 : 10_000
let host = configuration.endpoint.host
let port = Int32(configuration.endpoint.port)
let user = configuration.credentials.user
let password = configuration.credentials.password

func check(_ value: Double, _ what: String) -> Double {
    guard value > 0 else {
        print("peers-raw: \(what) failed")
        exit(1)
    }
    return value
}
print("RESULT chains raw \(check(weft_raw_chain_hops(host, port, user, password, "peers.raw.chains", 64, 500), "chains"))")
print("RESULT fan raw \(check(weft_raw_fan_hops(host, port, user, password, "peers.raw.fan", fans, 100), "fan"))")
print("RESULT tasks raw \(check(weft_raw_independent_tasks(host, port, user, password, "peers.raw.tasks", tasks, 128), "tasks"))")
