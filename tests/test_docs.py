"""docs/architecture.md's dependency block is Package.swift's, arrow for arrow."""
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_architecture_arrows_are_the_package_dependencies():
    dump = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout)
    ours = {t["name"] for t in dump["targets"] if t["type"] != "test"}
    declared = {}
    for target in dump["targets"]:
        if target["type"] == "test":
            continue
        names = set()
        for dependency in target.get("dependencies", []):
            kind, value = next(iter(dependency.items()))
            name = value[0]
            if name in ours:
                names.add(name)
        declared[target["name"]] = names

    block = re.search(r"```\n(chatd .*?)```", (ROOT / "docs/architecture.md").read_text(), re.S).group(1)
    documented = {}
    for line in block.strip().splitlines():
        name, _, rest = line.partition("→")
        rest = rest.strip()
        documented[name.strip()] = set() if rest == "(none)" else {n.strip() for n in rest.split(",")}
    assert documented == declared
