#!/usr/bin/env python3
"""A synthetic monorepo for doctor discovery: 200 packages x 10 modules x 100 files
(200,000 files, ~1% with names doctor must peek into), a Dockerfile per package and
three bkenv environments. benches/doctor.rs builds the same layout.

Usage: gen-tree.py ROOT BKENV_BIN
"""
import os
import subprocess
import sys

PACKAGES, MODULES, FILES = 200, 10, 100
EXTS = ["rs", "go", "ts", "js", "md", "txt", "json", "c", "h", "py"]
ENVS = [17, 101, 188]


def main():
    root, bkenv = sys.argv[1], sys.argv[2]
    for p in range(PACKAGES):
        pkg = os.path.join(root, f"pkg-{p:03}")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "Dockerfile"), "w") as f:
            f.write("FROM alpine:3.20\nRUN true\n")
        for m in range(MODULES):
            d = os.path.join(pkg, "src", f"mod-{m}")
            os.makedirs(d)
            for i in range(FILES - 3):
                with open(os.path.join(d, f"file{i}.{EXTS[i % len(EXTS)]}"), "w") as f:
                    f.write("// generated\n")
            with open(os.path.join(d, "Cargo.toml"), "w") as f:
                f.write('[package]\nname = "m"\nversion = "0.1.0"\n')
            with open(os.path.join(d, "settings.yml"), "w") as f:
                f.write("name: m\nreplicas: 1\n")
            with open(os.path.join(d, "README.md"), "w") as f:
                f.write("# module\n")
    for p in ENVS:
        env = os.path.join(root, f"pkg-{p:03}", "deploy", "env")
        subprocess.run([bkenv, "init", env], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
