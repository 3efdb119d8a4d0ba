import Weft

extension FleetConfiguration {
    /// The settings as the configuration file's JSON: what ``load(file:environment:overrides:)``
    /// reads back to the same settings. The foreman hands its workers their configuration so.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "broker": .string(broker), "allowPlainAMQP": .bool(allowPlainAMQP), "store": .string(store), "storeSync": .string(storeSync.rawValue), "queuePrefix": .string(queuePrefix),
            "concurrency": .int(Int64(concurrency)), "blockingThreads": .int(Int64(blockingThreads)),
            "inlineSuccessors": .int(Int64(inlineSuccessors)),
            "logLevel": .string(logLevel.rawValue), "metricsPort": .int(Int64(metricsPort)),
            "drainTimeout": .double(drainTimeout), "stallTimeout": .double(stallTimeout), "maxMessageSize": .int(Int64(maxMessageSize)), "blueprints": .array(blueprints.map(JSONValue.string)),
            "retention": retention.map(JSONValue.double) ?? .null,
        ]
        object["queues"] = queues.map { .array($0.map(JSONValue.string)) } ?? .null
        if let statusDir { object["statusDir"] = .string(statusDir) }
        if let tlsCA { object["tlsCA"] = .string(tlsCA) }
        if let tlsCertificate { object["tlsCertificate"] = .string(tlsCertificate) }
        if let tlsKey { object["tlsKey"] = .string(tlsKey) }
        object["foreman"] = .object([
            "workers": .int(Int64(foreman.workers)), "minWorkers": .int(Int64(foreman.minWorkers)),
            "maxWorkers": .int(Int64(foreman.maxWorkers)), "scaleInterval": .double(foreman.scaleInterval),
            "restartLimit": .int(Int64(foreman.restartLimit)), "workerCommand": .array(foreman.workerCommand.map(JSONValue.string)),
        ])
        return .object(object)
    }
}
