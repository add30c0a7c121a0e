import Foundation

/// The fixpoint of the flow facts: for every place, the roots its value may have.
///
/// Context- and flow-insensitive (Andersen-style inclusion without field
/// sensitivity per instance): a place's roots include those of every atom that
/// flows into it, arguments flow into parameters, and calls through function
/// pointers are linked as their target sets grow.
final class PointsTo {
    /// Interned roots; a root's index is its identity in every set below.
    private(set) var roots: [Root] = []
    private var rootIndex: [Root: Int] = [:]
    private var placeIndex: [PlaceID: Int] = [:]
    /// For each place, the roots of its value (its own `unknown` root included).
    private var placeRoots: [Set<Int>] = []
    private var flows: [(place: Int, terms: [Term])] = []
    private var indirectFlows: [(pointer: [Term], value: [Term])] = []
    private var linkedTargets: Set<[Int]> = []
    private let functions: [String: FunctionInfo]
    /// Per place: the only record whose objects it admits (nil: any), or whether it admits none.
    private var admits: [PlaceKind?] = []
    private let placeKinds: [PlaceID: PlaceKind]
    /// Sites found behind function pointers whose targets are libc I/O calls.
    private(set) var indirectSites: [IOSite] = []

    /// An atom compiled against interned places and roots.
    indirect enum Term {
        case place(Int)
        case root(Int)
        case load([Term])
    }

    /// Solves the flows of `facts`.
    init(facts: FactBase) {
        functions = facts.functions
        placeKinds = facts.placeKinds
        for (place, atoms) in facts.flows {
            addFlow(into: place, compile(atoms))
        }
        indirectFlows = facts.indirectFlows.map { (compile($0.pointer), compile($0.value)) }
        let indirect = facts.calls.filter { $0.callee == nil }
        for call in facts.calls {
            guard let callee = call.callee, let target = functions[callee] else { continue }
            link(call.arguments.map(compile), into: target)
        }
        let indirectTerms = indirect.map {
            (callee: compile($0.calleeAtoms), arguments: $0.arguments.map(compile))
        }
        var rounds = 0
        while rounds < 1000 {
            rounds += 1
            var changed = propagate()
            for flow in indirectFlows {
                let value = evaluate(flow.value)
                for rootID in evaluate(flow.pointer) {
                    guard case .address(let target) = roots[rootID] else { continue }
                    let index = place(target)
                    let value = admitted(value, into: index)
                    if !value.isSubset(of: placeRoots[index]) {
                        placeRoots[index].formUnion(value)
                        changed = true
                    }
                }
            }
            for (index, call) in indirectTerms.enumerated() {
                for rootID in evaluate(call.callee) {
                    guard case .function(let usr) = roots[rootID],
                        linkedTargets.insert([index, rootID]).inserted
                    else { continue }
                    changed = true
                    if let target = functions[usr] {
                        link(call.arguments, into: target)
                    } else {
                        noteIndirectSite(usr: usr, call: indirect[index])
                    }
                }
            }
            if !changed { break }
        }
    }

    /// The roots an expression's atoms may have.
    func roots(of atoms: [Atom]) -> Set<Int> {
        evaluate(compile(atoms))
    }

    /// The roots of a place's value (empty for a place no fact mentions).
    func roots(ofPlace id: PlaceID) -> Set<Int> {
        placeIndex[id].map { placeRoots[$0] } ?? []
    }

    /// The index of a root that some fact mentions, or nil.
    func existingRoot(_ root: Root) -> Int? {
        rootIndex[root]
    }

    /// The index of a root, interning it on first sight.
    func intern(_ root: Root) -> Int {
        if let index = rootIndex[root] { return index }
        roots.append(root)
        rootIndex[root] = roots.count - 1
        return roots.count - 1
    }

    // MARK: Fixpoint

    private func propagate() -> Bool {
        var changed = false
        for flow in flows {
            let incoming = admitted(evaluate(flow.terms), into: flow.place)
            if !incoming.isSubset(of: placeRoots[flow.place]) {
                if let trace = AnalysisTrace.rootFilter {
                    for r in incoming.subtracting(placeRoots[flow.place]) where "\(roots[r])".contains(trace)
                    {
                        AnalysisTrace.emit(
                            "trace: \(placeNames[flow.place]) <- \(flow.terms.map(describe)): \(roots[r])")
                    }
                }
                placeRoots[flow.place].formUnion(incoming)
                changed = true
            }
        }
        return changed
    }

    /// The roots a place may take: typed objects only where its type can point at them.
    private func admitted(_ incoming: Set<Int>, into place: Int) -> Set<Int> {
        guard let kind = admits[place], kind != .bytes else { return incoming }
        return incoming.filter { root in
            guard case .object(let record, _) = roots[root] else { return true }
            return kind == .record(record)
        }
    }

    private func evaluate(_ terms: [Term]) -> Set<Int> {
        var out = Set<Int>()
        for term in terms {
            switch term {
            case .place(let place):
                out.formUnion(placeRoots[place])
            case .root(let root):
                out.insert(root)
            case .load(let inner):
                for rootID in evaluate(inner) {
                    switch roots[rootID] {
                    case .address(let target):
                        out.formUnion(placeRoots[place(target)])
                    case .loaded(let memory):
                        out.insert(intern(.loaded(memory)))
                    case let memory where memory.isMemory:
                        out.insert(intern(.loaded(memory)))
                    default:
                        break
                    }
                }
            }
        }
        return out
    }

    private func addFlow(into place: PlaceID, _ terms: [Term]) {
        guard !terms.isEmpty else { return }
        flows.append((self.place(place), terms))
    }

    /// Arguments flow into the target's parameters (extra variadic arguments go nowhere).
    private func link(_ arguments: [[Term]], into target: FunctionInfo) {
        for (parameter, argument) in zip(target.parameters, arguments) where !argument.isEmpty {
            flows.append((place(parameter), argument))
        }
    }

    private func noteIndirectSite(usr: String, call: CallFact) {
        let name = usr.components(separatedBy: "@F@").last ?? usr
        guard let site = LibcCatalog.sites[name], case .argument(let index) = site.buffer,
            index < call.arguments.count
        else { return }
        indirectSites.append(
            IOSite(call: name, access: site.access, buffer: call.arguments[index], location: call.location))
    }

    private var placeNames: [String] = []
    private func describe(_ term: Term) -> String {
        switch term {
        case .place(let p): return placeNames[p]
        case .root(let r): return "\(roots[r])"
        case .load(let inner): return "load(" + inner.map(describe).joined(separator: ",") + ")"
        }
    }

    private func place(_ id: PlaceID) -> Int {
        if let index = placeIndex[id] { return index }
        placeNames.append(id)
        admits.append(placeKinds[id])
        placeIndex[id] = placeRoots.count
        placeRoots.append([intern(.unknown(id))])
        return placeRoots.count - 1
    }

    private func compile(_ atoms: [Atom]) -> [Term] {
        atoms.compactMap { atom -> Term? in
            switch atom {
            case .place(let id):
                return .place(place(id))
            case .root(let root):
                return .root(intern(root))
            case .load(let inner):
                return .load(compile(inner))
            case .callResult(let function, let location):
                guard let info = functions[function] else { return nil }
                if info.returnsOnlyAllocations { return .root(intern(.allocation(location))) }
                return .place(place("ret:" + function))
            }
        }
    }
}
