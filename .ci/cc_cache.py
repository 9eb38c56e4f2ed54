"""A compiler cache for CI's install paths (what ccache does, in one small file).

The install paths (.ci/install_paths.sh) build the same kernels from the same sources four times
over (wheel, sdist, `pip install .`, editable), three instruction-set variants each; compiling is
most of their time, and what they test is the packaging, not the compiler. Set as CC, this
script runs the real compiler, and reuses an object when the same compiler was given the same
flags and the same preprocessed source before: the key is the compiler's version, the arguments
without the file names and the preprocessor's, and the source as the preprocessor hands it on
(so a changed header or a different NumPy or Cython gives a new key). Anything that is not a
one-file compile to an object (linking, probes without -c) runs the compiler as is. Two builds
that want the same object at once: the second waits for the first and takes its object.

    CC="python .ci/cc_cache.py" TNM_CC_CACHE=DIR TNM_REAL_CC=gcc pip install ...
"""
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys


def main(argv):
    real = shlex.split(os.environ.get("TNM_REAL_CC", "cc"))
    cache = os.environ["TNM_CC_CACHE"]
    sources = [a for a in argv if a.endswith((".c", ".cpp"))]
    out = argv[argv.index("-o") + 1] if "-o" in argv[:-1] else None
    if "-c" not in argv or len(sources) != 1 or out is None:
        return subprocess.call(real + argv)
    flags = [a for i, a in enumerate(argv) if a != sources[0] and a != "-o" and argv[i - 1:i] != ["-o"]]
    key = hashlib.sha1()
    key.update(subprocess.run(real + ["--version"], capture_output=True).stdout)
    # -I and -D act only through the preprocessor, whose output is hashed below; leaving them out
    # of the key lets builds in different venvs (each adds its own include directory) share
    key.update("\0".join(a for a in flags if not a.startswith(("-I", "-D"))).encode())
    # -P: no line markers, which name the directory each build ran in
    pre = subprocess.run(real + flags + ["-E", "-P", sources[0]], capture_output=True)
    if pre.returncode != 0:   # let the compiler report the error itself
        return subprocess.call(real + argv)
    key.update(pre.stdout)
    os.makedirs(cache, exist_ok=True)
    cached = os.path.join(cache, key.hexdigest() + ".o")
    with open(cached + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # held while compiling: a second build waits, then hits
        if os.path.exists(cached):
            shutil.copyfile(cached, out)
            print(f"cc_cache: hit {os.path.basename(sources[0])}", file=sys.stderr)
            return 0
        rc = subprocess.call(real + argv)
        if rc == 0:
            shutil.copyfile(out, cached + ".tmp")
            os.replace(cached + ".tmp", cached)
        return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
