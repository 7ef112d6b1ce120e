/// DescribeUserScramCredentials (50) and AlterUserScramCredentials (51), v0, flexible (KIP-554).
/// Mechanisms travel as Kafka's numbers (1 SCRAM-SHA-256, 2 SCRAM-SHA-512). The client salts
/// and hashes the password itself: the request carries the salt and the salted password,
/// never the password.

public struct DescribeUserScramCredentialsRequest: Sendable, Equatable {
    /// Nil: every user.
    public var users: [String]?

    public init(users: [String]?) {
        self.users = users
    }

    /// Writes the request (for `stele users` against a running server).
    public func encode(_ encoder: inout KafkaEncoder) {
        encoder.array(users) { encoder, name in
            encoder.string(name)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let users = try decoder.nullableArray("users") { decoder -> String in
            let name = try decoder.string("user name")
            try decoder.taggedFields()
            return name
        }
        try decoder.taggedFields()
        return Self(users: users)
    }
}

public struct DescribeUserScramCredentialsResponse: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        public var user: String
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?
        public var credentials: [(mechanism: Int8, iterations: Int32)]

        public init(user: String, errorCode: KafkaErrorCode, errorMessage: String? = nil, credentials: [(mechanism: Int8, iterations: Int32)] = []) {
            self.user = user
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.credentials = credentials
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.user == rhs.user && lhs.errorCode == rhs.errorCode && lhs.errorMessage == rhs.errorMessage
                && lhs.credentials.map(\.mechanism) == rhs.credentials.map(\.mechanism) && lhs.credentials.map(\.iterations) == rhs.credentials.map(\.iterations)
        }
    }

    public var errorCode: KafkaErrorCode
    public var errorMessage: String?
    public var results: [Result]

    public init(errorCode: KafkaErrorCode = .none, errorMessage: String? = nil, results: [Result]) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.results = results
    }

    public static func decode(_ decoder: inout KafkaDecoder) throws -> Self {
        _ = try decoder.int32("throttle time")
        let code = try decoder.int16("error code")
        let message = try decoder.nullableString("error message")
        let results = try decoder.array("results") { decoder -> Result in
            let user = try decoder.string("user")
            let code = try decoder.int16("error code")
            let message = try decoder.nullableString("error message")
            let credentials = try decoder.array("credential infos") { decoder -> (mechanism: Int8, iterations: Int32) in
                let info = (mechanism: try decoder.int8("mechanism"), iterations: try decoder.int32("iterations"))
                try decoder.taggedFields()
                return info
            }
            try decoder.taggedFields()
            return Result(user: user, errorCode: KafkaErrorCode(rawValue: code) ?? .unknownServerError, errorMessage: message, credentials: credentials)
        }
        try decoder.taggedFields()
        return Self(errorCode: KafkaErrorCode(rawValue: code) ?? .unknownServerError, errorMessage: message, results: results)
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.int16(errorCode.rawValue)
        encoder.nullableString(errorMessage)
        encoder.array(results) { encoder, result in
            encoder.string(result.user)
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.array(result.credentials) { encoder, credential in
                encoder.int8(credential.mechanism)
                encoder.int32(credential.iterations)
                encoder.taggedFields()
            }
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct AlterUserScramCredentialsRequest: Sendable, Equatable {
    public struct Deletion: Sendable, Equatable {
        public var name: String
        public var mechanism: Int8

        public init(name: String, mechanism: Int8) {
            self.name = name
            self.mechanism = mechanism
        }
    }

    public struct Upsertion: Sendable, Equatable {
        public var name: String
        public var mechanism: Int8
        public var iterations: Int32
        public var salt: [UInt8]
        public var saltedPassword: [UInt8]

        public init(name: String, mechanism: Int8, iterations: Int32, salt: [UInt8], saltedPassword: [UInt8]) {
            self.name = name
            self.mechanism = mechanism
            self.iterations = iterations
            self.salt = salt
            self.saltedPassword = saltedPassword
        }
    }

    public var deletions: [Deletion]
    public var upsertions: [Upsertion]

    public init(deletions: [Deletion], upsertions: [Upsertion]) {
        self.deletions = deletions
        self.upsertions = upsertions
    }

    public static func decode(_ decoder: inout KafkaDecoder, version: Int16) throws -> Self {
        let deletions = try decoder.array("deletions") { decoder -> Deletion in
            let deletion = Deletion(name: try decoder.string("user name"), mechanism: try decoder.int8("mechanism"))
            try decoder.taggedFields()
            return deletion
        }
        let upsertions = try decoder.array("upsertions") { decoder -> Upsertion in
            let name = try decoder.string("user name")
            let mechanism = try decoder.int8("mechanism")
            let iterations = try decoder.int32("iterations")
            var salt = try decoder.bytes("salt")
            var salted = try decoder.bytes("salted password")
            try decoder.taggedFields()
            return Upsertion(name: name, mechanism: mechanism, iterations: iterations,
                             salt: salt.readBytes(length: salt.readableBytes) ?? [],
                             saltedPassword: salted.readBytes(length: salted.readableBytes) ?? [])
        }
        try decoder.taggedFields()
        return Self(deletions: deletions, upsertions: upsertions)
    }

    /// Writes the request (for `stele users` against a running server).
    public func encode(_ encoder: inout KafkaEncoder) {
        encoder.array(deletions) { encoder, deletion in
            encoder.string(deletion.name)
            encoder.int8(deletion.mechanism)
            encoder.taggedFields()
        }
        encoder.array(upsertions) { encoder, upsertion in
            encoder.string(upsertion.name)
            encoder.int8(upsertion.mechanism)
            encoder.int32(upsertion.iterations)
            encoder.nullableBytes(upsertion.salt)
            encoder.nullableBytes(upsertion.saltedPassword)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }
}

public struct AlterUserScramCredentialsResponse: Sendable, Equatable {
    public struct Result: Sendable, Equatable {
        public var user: String
        public var errorCode: KafkaErrorCode
        public var errorMessage: String?

        public init(user: String, errorCode: KafkaErrorCode, errorMessage: String? = nil) {
            self.user = user
            self.errorCode = errorCode
            self.errorMessage = errorMessage
        }
    }

    public var results: [Result]

    public init(results: [Result]) {
        self.results = results
    }

    public func encode(_ encoder: inout KafkaEncoder, version: Int16) {
        encoder.int32(0)
        encoder.array(results) { encoder, result in
            encoder.string(result.user)
            encoder.int16(result.errorCode.rawValue)
            encoder.nullableString(result.errorMessage)
            encoder.taggedFields()
        }
        encoder.taggedFields()
    }

    public static func decode(_ decoder: inout KafkaDecoder) throws -> Self {
        _ = try decoder.int32("throttle time")
        let results = try decoder.array("results") { decoder -> Result in
            let user = try decoder.string("user")
            let code = try decoder.int16("error code")
            let message = try decoder.nullableString("error message")
            try decoder.taggedFields()
            return Result(user: user, errorCode: KafkaErrorCode(rawValue: code) ?? .unknownServerError, errorMessage: message)
        }
        try decoder.taggedFields()
        return Self(results: results)
    }
}
