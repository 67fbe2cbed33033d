// AES-256-GCM sealing and opening: round trip, associated-data binding and tamper detection.
import LedgerCore
import Testing

@Suite struct AESGCMTests {
    @Test func sealThenOpenRoundTrips() throws {
        let cipher = try AESGCM()
        let key = try SymmetricKey.random()
        let plaintext = Array("my card number is 4111 1111 1111 1111".utf8)
        let sealed = try cipher.seal(plaintext, key: key, associatedData: Array("envelope".utf8))
        #expect(sealed.count == plaintext.count + AESGCM.overhead)
        #expect(try cipher.open(sealed, key: key, associatedData: Array("envelope".utf8)) == plaintext)
    }

    @Test func openingWithOtherAssociatedDataFails() throws {
        let cipher = try AESGCM()
        let key = try SymmetricKey.random()
        let sealed = try cipher.seal([1, 2, 3], key: key, associatedData: [9])
        #expect(throws: CryptoError.authenticationFailed) { try cipher.open(sealed, key: key, associatedData: [8]) }
    }

    @Test func openingAlteredCiphertextOrWithOtherKeyFails() throws {
        let cipher = try AESGCM()
        let key = try SymmetricKey.random()
        var sealed = try cipher.seal(Array(repeating: 7, count: 40), key: key, associatedData: [])
        #expect(throws: CryptoError.authenticationFailed) {
            try cipher.open(sealed, key: try SymmetricKey.random(), associatedData: [])
        }
        sealed[20] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try cipher.open(sealed, key: key, associatedData: []) }
    }

    @Test func emptyPlaintextSealsToNonceAndTag() throws {
        let cipher = try AESGCM()
        let key = try SymmetricKey.random()
        let sealed = try cipher.seal([], key: key, associatedData: [1])
        #expect(sealed.count == AESGCM.overhead)
        #expect(try cipher.open(sealed, key: key, associatedData: [1]) == [])
    }

    @Test func sha256MatchesKnownAnswer() {
        #expect(
            SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
