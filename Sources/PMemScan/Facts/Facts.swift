/// What the collector extracts from the AST and the solver reasons over.
///
/// The analysis is flow- and context-insensitive: a *place* (a variable, a
/// parameter, a struct field across all instances, a function's return value)
/// collects every value assigned to it; values are *atoms* that resolve to
/// *roots*: the memory or typed objects a pointer may refer to.

/// A storage location that values flow into, named by a libclang USR
/// (stable across translation units) or by `ret:USR` for a function's result.
typealias PlaceID = String

/// A record type, by the USR of its declaration.
typealias RecordID = String

/// What a value can ultimately be.
indirect enum Root: Hashable {
    /// A typed object of a record (`&hdr`, a `struct hdr *`, a struct by value), with where it was named
    /// when that says more than the I/O site does.
    case object(RecordID, SourceLocation?)
    /// The value of a data field of a record (`h->count`, `h->name`): field-by-field serialization,
    /// with the function that names it (serializers touch several fields in one function).
    case field(RecordID, String, SourceLocation, function: String?)
    /// The storage of an array variable (`char buf[512]`).
    case storage(PlaceID)
    /// Memory from an allocator call (`malloc`, or a function that only returns allocations).
    case allocation(SourceLocation)
    /// Memory mapped from a file (`mmap` without `MAP_ANONYMOUS`).
    case mapping(SourceLocation)
    /// A function designator (`&file_write`, `.write = file_write`): resolves indirect calls.
    case function(String)
    /// Whatever a pointer place points to when no assignment to it is visible; links aliases.
    case unknown(PlaceID)
    /// Bytes loaded from the memory of the wrapped root (`*(uint32_t *)(buf + 4)`).
    case loaded(Root)
    /// The address of a variable or pointer field (`&n`, `&db->map`): stores through it
    /// assign the place, loads through it read the place.
    case address(PlaceID)

    /// Whether the root stands for raw memory (overlays and stored contents attach to it).
    var isMemory: Bool {
        switch self {
        case .storage, .allocation, .mapping, .unknown: return true
        case .object, .field, .function, .loaded, .address: return false
        }
    }
}

/// What a place's declared type lets it hold, looking through pointers and arrays.
///
/// A typed object flows only into places that can point at it: `struct T *`,
/// `struct T **`, or raw bytes (`void *`, `char *`). An `unsigned *` carved out of
/// the same allocation as a `struct T *` aliases its memory, not its type.
enum PlaceKind: Hashable {
    /// Pointers (or arrays, or values) of this record.
    case record(RecordID)
    /// Raw bytes: `void *`, `char *`, `unsigned char buf[]`.
    case bytes
    /// Scalars, pointers to scalars, function pointers.
    case other
}

/// An unresolved value: a place to look up, a root, bytes loaded through a pointer, or a call result.
indirect enum Atom: Hashable {
    /// The value of a place.
    case place(PlaceID)
    /// A known root.
    case root(Root)
    /// What is loaded through pointers with these atoms.
    case load([Atom])
    /// The result of calling a function with a definition (resolved once all units are known).
    case callResult(function: String, at: SourceLocation)
}

/// A block I/O call site: the atoms of its data buffer and which way the bytes go.
struct IOSite: Hashable {
    /// The libc call (`pwrite`).
    var call: String
    /// Read or write.
    var access: Access
    /// The buffer argument's atoms.
    var buffer: [Atom]
    /// Where the call is.
    var location: SourceLocation
}

/// A function with a body in the analyzed sources.
struct FunctionInfo: Hashable {
    /// Its USR.
    var usr: String
    /// Its name.
    var name: String
    /// The USRs of its parameters, in order.
    var parameters: [PlaceID]
    /// Whether it only returns fresh allocations (`xmalloc`): each call then gets its own root.
    var returnsOnlyAllocations: Bool
}

/// A call to a function with parameters: arguments flow into them.
struct CallFact: Hashable {
    /// The callee's USR (direct calls) ...
    var callee: String?
    /// ... or the atoms of the callee expression (calls through function pointers).
    var calleeAtoms: [Atom]
    /// The arguments' atoms, in order.
    var arguments: [[Atom]]
    /// Where the call is.
    var location: SourceLocation
}

/// Every fact from the analyzed translation units.
struct FactBase {
    /// `place ⊇ atoms`: assignments, initializers, returns.
    var flows: [(PlaceID, [Atom])] = []
    /// `*p = value` for any value: assigns the places whose addresses `p` holds.
    var indirectFlows: [(pointer: [Atom], value: [Atom])] = []
    /// `*dst = value`: bytes stored into the memory `dst` points to.
    var stores: [(destination: [Atom], value: [Atom])] = []
    /// `memcpy(dst, src, n)`: the bytes of `src` copied into `dst`.
    var copies: [(destination: [Atom], source: [Atom])] = []
    /// `(T *)buf`: record `T` laid over the memory of `operand`.
    var overlays: [(record: RecordID, operand: [Atom], location: SourceLocation)] = []
    /// `x->f = value` for data fields: deserialization, field by field.
    var fieldAssignments:
        [(record: RecordID, field: String, value: [Atom], location: SourceLocation, function: String?)] = []
    /// Block I/O calls.
    var sites: [IOSite] = []
    /// File mappings: where each `mmap` is and the atoms of the descriptor it maps.
    var mappings: [SourceLocation: [Atom]] = [:]
    /// Descriptors used for record locking (`fcntl` lock commands, `flock`, `lockf`).
    var lockedDescriptors: [[Atom]] = []
    /// Calls to functions (direct or through pointers).
    var calls: [CallFact] = []
    /// Functions with bodies, by USR.
    var functions: [String: FunctionInfo] = [:]
    /// Records met, by USR.
    var records: [RecordID: RecordInfo] = [:]
    /// The kinds of places whose declarations were seen, by place.
    var placeKinds: [PlaceID: PlaceKind] = [:]
    /// Typedef names of records, by record USR.
    var typedefs: [RecordID: Set<String>] = [:]
    /// C++ templates whose text calls block I/O (the analysis does not instantiate them).
    var templatesWithIO: [TemplateIO] = []
}
