internal import CClang
import Foundation

/// The libclang the analysis runs on.
public enum ClangVersion {
    /// libclang's version line (`Debian clang version 14.0.6`).
    public static var current: String {
        guard let text = pmk_clang_version() else { return "unknown" }
        defer { free(text) }
        return String(cString: text)
    }
}
