// A method a path does not declare answers 405 Method Not Allowed with an `Allow` header naming the methods it has
// (RFC 9110 §15.5.6), not 404: the path exists, and a client learns what to send instead.
import HTTPTypes
import Hummingbird

extension Router where Context == BasicRequestContext {
    /// The methods a 405 is answered for when a path does not declare them: RFC 9110's and QUERY (the safe
    /// method with a body being standardised, which clients already send).
    static var answeredMethods: [HTTPRequest.Method] {
        [.get, .head, .post, .put, .delete, .patch, .options, .trace] + [HTTPRequest.Method("QUERY")].compactMap { $0 }
    }

    /// Registers, for every path of `routes`, a 405 answer for each method in `answeredMethods` it does not declare.
    func answerUndeclaredMethods(of routes: [LedgerServer.Route]) {
        let declared = Dictionary(grouping: routes, by: \.path).mapValues { Set($0.map(\.method)) }
        for (path, methods) in declared {
            let allow = Self.answeredMethods.map(\.rawValue).filter(methods.contains).joined(separator: ", ")
            let components = path.split(separator: "/").map { part in
                part.hasPrefix("{") ? ":" + part.dropFirst().dropLast() : String(part)
            }
            let routerPath = RouterPath("/" + components.joined(separator: "/"))
            for method in Self.answeredMethods where !methods.contains(method.rawValue) {
                on(routerPath, method: method) { _, _ -> Response in
                    throw HTTPError(
                        .methodNotAllowed, headers: [.allow: allow],
                        message: "\(method.rawValue) is not allowed on \(path); allowed: \(allow)")
                }
            }
        }
    }
}
