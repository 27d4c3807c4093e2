"""Checks that each folder library calls only itself and the libraries its
CMake link line names (directly or beneath them): the pipeline's direction,
enforced on the built objects.

Arguments: one NAME=ARCHIVE=DEP|DEP|... per folder library, as
tests/CMakeLists.txt writes them from the targets' link lines. A project
symbol that a library uses but that only a library above it or beside it
defines is a call in the wrong direction; the test names the symbol, the
object file that uses it and the library that defines it."""
import subprocess
import sys


def symbols(archive):
    """(defined, {undefined symbol: [object files]}) of a static library."""
    out = subprocess.run(["nm", "-A", archive], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), {}
    for line in out.splitlines():
        where, _, rest = line.rpartition(":")
        fields = rest.split()
        if len(fields) == 2 and fields[0] == "U":
            undefined.setdefault(fields[1], []).append(where.rsplit(":", 1)[-1])
        elif len(fields) == 3 and fields[1] in "TDBRC":
            defined.add(fields[2])
    return defined, undefined


def main():
    libs = {}
    for arg in sys.argv[1:]:
        name, archive, deps = arg.split("=", 2)
        libs[name] = (archive, [d for d in deps.split("|") if d.startswith("mtr_")])
    if not libs:
        print("usage: check_layering.py NAME=ARCHIVE=DEP|DEP ...", file=sys.stderr)
        return 2

    def beneath(name, seen=None):
        seen = set() if seen is None else seen
        for dep in libs[name][1]:
            if dep in libs and dep not in seen:
                seen.add(dep)
                beneath(dep, seen)
        return seen

    table = {name: symbols(archive) for name, (archive, _) in libs.items()}
    owner = {s: name for name, (defined, _) in table.items() for s in defined}
    problems = []
    for name, (defined, undefined) in table.items():
        allowed = {name} | beneath(name)
        for sym, users in sorted(undefined.items()):
            lib = owner.get(sym)
            if lib and lib not in allowed:
                problems.append(f"{name}: {users[0]} calls {sym}, defined in {lib}, which "
                                f"{name} does not link (move the code down, or call it from above)")
    for p in problems:
        print(p)
    order = " ".join(f"{n}<-{{{','.join(sorted(beneath(n)))}}}" for n in libs)
    print(f"{len(libs)} libraries, {len(problems)} call(s) against the layering: {order}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
