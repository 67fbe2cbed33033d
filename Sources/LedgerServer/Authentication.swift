// Bearer tokens: API keys kept only as SHA-256 hashes in a YAML file, and JWTs verified against a JWKS file.
import Foundation
import Hummingbird
import JWTKit
import LedgerCore
import Yams

/// API keys by the SHA-256 of the key (the key itself is never stored).
///
/// The file (YAML): `keys:` a list of `{sha256, principal, role, tenants, queues?, agent?}`; `tenants` is a
/// list of tenant names or `["*"]` for all.
public struct APIKeyStore: Sendable {
    private struct File: Decodable {
        var keys: [Entry]
    }

    private struct Entry: Decodable {
        var sha256: String
        var principal: String
        var role: String
        var tenants: [String]
        var queues: [String]?
        var agent: String?
    }

    private let principals: [LedgerCore.SHA256Digest: Principal]

    /// No keys.
    public init() {
        principals = [:]
    }

    /// Reads the keys file at `path`.
    public init(path: String) throws(ServerError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .file(path: path, reason: "cannot read the API keys file: \(error.localizedDescription)")
        }
        let file: File
        do { file = try YAMLDecoder().decode(File.self, from: text) } catch {
            throw .file(path: path, reason: "not a keys file (keys: [{sha256, principal, role, tenants}]): \(error)")
        }
        var principals: [LedgerCore.SHA256Digest: Principal] = [:]
        for (index, entry) in file.keys.enumerated() {
            let at = "keys[\(index)]"
            guard let digest = LedgerCore.SHA256Digest(hex: entry.sha256) else {
                throw .file(path: path, reason: "\(at).sha256 is not 64 hexadecimal digits")
            }
            guard let role = Role(rawValue: entry.role) else {
                throw .file(
                    path: path,
                    reason:
                        "\(at).role '\(entry.role)' is not one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            guard !entry.tenants.isEmpty else { throw .file(path: path, reason: "\(at).tenants is empty") }
            guard principals[digest] == nil else { throw .file(path: path, reason: "\(at).sha256 is listed twice") }
            principals[digest] = Principal(
                name: entry.principal, role: role, tenants: Set(entry.tenants), queues: entry.queues.map(Set.init),
                agent: entry.agent)
        }
        self.principals = principals
    }

    /// The hash a keys file lists for `key`: SHA-256 of its UTF-8 bytes, hexadecimal.
    public static func hash(of key: String) -> String {
        digest(of: key).hex
    }

    private static func digest(of key: String) -> LedgerCore.SHA256Digest {
        Array(key.utf8).withUnsafeBytes { raw in LedgerCore.SHA256.hash(raw) }
    }

    /// The principal holding `key`, if it is a known key.
    func principal(for key: String) -> Principal? {
        principals[Self.digest(of: key)]
    }
}

/// The claims a JWT must carry: `sub`, `exp`, `role`, `tenants`; optionally `iss`, `queues`, `agent`.
struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iss: IssuerClaim?
    var role: String
    var tenants: [String]
    var queues: [String]?
    var agent: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Verifies JWTs with the public keys of a JWKS file.
public struct JWTVerifier: Sendable {
    private let keys: JWTKeyCollection
    private let issuer: String?

    /// Loads the JWKS at `path`; when `issuer` is set, tokens must carry it as `iss`.
    public init(jwksPath path: String, issuer: String?) async throws(ServerError) {
        let json: String
        do { json = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .file(path: path, reason: "cannot read the JWKS file: \(error.localizedDescription)")
        }
        let keys = JWTKeyCollection()
        do { try await keys.add(jwksJSON: json) } catch {
            throw .file(path: path, reason: "not a usable JWKS (RFC 7517 {\"keys\":[...]}): \(error)")
        }
        self.keys = keys
        self.issuer = issuer
    }

    /// The principal a valid token names; nil with the reason when it is not valid.
    func principal(for token: String) async -> Result<Principal, HTTPErrorReason> {
        let claims: TokenClaims
        do { claims = try await keys.verify(token, as: TokenClaims.self) } catch let error as JWTError {
            if error.errorType == .claimVerificationFailure { return .failure(.init("the token has expired")) }
            return .failure(.init("the token does not verify against the JWKS (\(error.errorType))"))
        } catch {
            return .failure(.init("the token cannot be read as a JWT"))
        }
        if let issuer, claims.iss?.value != issuer {
            return .failure(.init("the token's issuer is not the one this service accepts"))
        }
        guard let role = Role(rawValue: claims.role) else {
            return .failure(.init("the token's role claim is not one of \(Role.allCases.map(\.rawValue))"))
        }
        guard !claims.tenants.isEmpty else { return .failure(.init("the token's tenants claim is empty")) }
        return .success(
            Principal(
                name: claims.sub.value, role: role, tenants: Set(claims.tenants), queues: claims.queues.map(Set.init),
                agent: claims.agent))
    }
}

/// Why a token was refused (never containing the token).
struct HTTPErrorReason: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Turns the `Authorization: Bearer` header into a principal: an API key first, else a JWT.
public struct Authenticator: Sendable {
    let apiKeys: APIKeyStore
    let jwt: JWTVerifier?

    /// An authenticator over `apiKeys` and, if given, JWTs verified by `jwt`.
    public init(apiKeys: APIKeyStore, jwt: JWTVerifier?) {
        self.apiKeys = apiKeys
        self.jwt = jwt
    }

    /// The principal of `fields`' bearer token, or a 401 naming what is wrong.
    func principal(_ fields: HTTPFields) async throws -> Principal {
        guard let header = fields[.authorization] else {
            throw APIError.unauthorized("no Authorization header: send Authorization: Bearer <token>")
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix else {
            throw APIError.unauthorized("the Authorization header is not a Bearer token")
        }
        let token = header.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        if let principal = apiKeys.principal(for: token) { return principal }
        guard token.split(separator: ".", omittingEmptySubsequences: false).count == 3 else {
            throw APIError.unauthorized("unknown API key")
        }
        guard let jwt else { throw APIError.unauthorized("JWTs are not accepted: the service has no JWKS") }
        switch await jwt.principal(for: token) {
        case .success(let principal): return principal
        case .failure(let reason): throw APIError.unauthorized(reason.message)
        }
    }
}
