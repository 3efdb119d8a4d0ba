import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

extension AMQPLink {
    // MARK: Describing failures

    /// The error for a socket that would not open: TLS, name resolution, a timeout, a refusal.
    static func openError(_ status: Int32, endpoint: AMQPConfiguration.Endpoint) -> AMQPError {
        let place = "\(endpoint.host):\(endpoint.port)"
        switch status {
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue:
            return AMQPError(.tlsFailure, "TLS to \(place): the broker's certificate does not name \(endpoint.host)")
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue:
            return AMQPError(.tlsFailure, "TLS to \(place): the broker's certificate is not signed by a trusted authority")
        case AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue:
            return AMQPError(.tlsFailure, "TLS to \(place): the handshake failed (\(statusText(status)))")
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue:
            return AMQPError(.unreachable, "cannot resolve the broker's host \(endpoint.host)")
        case AMQP_STATUS_TIMEOUT.rawValue:
            return AMQPError(.unreachable, "connecting to \(place) timed out")
        default:
            let detail = errno == ECONNREFUSED ? "connection refused" : statusText(status)
            return AMQPError(.unreachable, "cannot connect to \(place): \(detail)")
        }
    }

    /// The error for a login the broker refused, or lost on the way.
    static func loginError(_ reply: amqp_rpc_reply_t, configuration: AMQPConfiguration) -> AMQPError {
        let place = "\(configuration.endpoint.host):\(configuration.endpoint.port)"
        let user = configuration.credentials.user
        let vhost = configuration.endpoint.virtualHost
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQPMethod.connectionClose,
            let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self)
        {
            let text = string(close.pointee.reply_text)
            if close.pointee.reply_code == 530 || text.contains("vhost") {
                return AMQPError(.authenticationFailed, "the broker at \(place) refused virtual host \"\(vhost)\" to user \"\(user)\": \(text)")
            }
            return AMQPError(.authenticationFailed, "the broker at \(place) refused the login of user \"\(user)\": \(text)")
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            switch reply.library_error {
            case AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_CLOSED.rawValue, AMQP_STATUS_SOCKET_ERROR.rawValue:
                // RabbitMQ drops the socket of a client whose credentials it refuses.
                return AMQPError(
                    .authenticationFailed,
                    "the broker at \(place) closed the connection during login: user \"\(user)\" or its password was refused")
            case AMQP_STATUS_SSL_ERROR.rawValue:
                return AMQPError(.tlsFailure, "TLS to \(place) failed during login (the broker may require a client certificate)")
            default:
                break
            }
        }
        return AMQPError(.connectionLost, "login to \(place) failed: \(replyText(reply))")
    }

    /// What a synchronous operation's reply says, for an error message.
    static func replyText(_ reply: amqp_rpc_reply_t) -> String {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION: statusText(reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION: "broker exception \(reply.reply.id)"
        case AMQP_RESPONSE_NONE: "no reply"
        default: "ok"
        }
    }

    /// librabbitmq's text for a status code.
    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }

    /// The bytes as UTF-8 text (replacing what is not).
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let base = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}
