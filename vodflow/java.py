"""Locate a usable JDK (17+) for Kafka, S3Proxy and Spark (base layer: the stack and Spark sessions use it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from vodflow.settings import Settings


class JavaMissingError(RuntimeError):
    pass


FIX = ("install a JDK 17 or newer (Debian: `apt-get install -y openjdk-17-jdk-headless`) "
       "or set VODFLOW_JAVA_HOME to one")


def find_java(settings: Settings) -> str:
    """Path of the `java` binary to use; raises JavaMissingError naming the fix."""
    home = settings.java_home
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise JavaMissingError(f"Java not found: {FIX}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)', out)
    if not m or int(m.group(1)) < 17:
        raise JavaMissingError(f"{java} is not Java 17+ ({out.splitlines()[0] if out else '?'}): {FIX}")
    return java
