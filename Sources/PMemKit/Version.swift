/// The release of PMemKit this is: what a dependent package names in
/// `.package(url:from:)`, and what `pmemctl --version` prints. The consumer
/// check in `tools/test` tags a clone with it and depends on that tag.
public enum PMemKitVersion {
    /// Semantic version, `MAJOR.MINOR.PATCH`.
    public static let string = "0.4.0"
}
