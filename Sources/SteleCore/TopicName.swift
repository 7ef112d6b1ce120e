/// Kafka's topic name rules (AK `Topic.validate`): 1–249 characters of `[a-zA-Z0-9._-]`,
/// not `.` or `..`. They also make every name a safe directory name.
public enum TopicName {
    public static let maxLength = 249

    public static func validate(_ name: String) -> String? {
        if name.isEmpty { return "topic name is empty" }
        if name == "." || name == ".." { return "topic name cannot be '.' or '..'" }
        if name.utf8.count > maxLength { return "topic name is longer than \(maxLength) characters" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        return allowed ? nil : "topic name '\(name)' has characters outside [a-zA-Z0-9._-]"
    }
}
