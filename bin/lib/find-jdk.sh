# Sourced by bin/grok1j and bin/test. Sets GROK1J_JAVA_HOME to a JDK >= 25 or prints one line and exits 2.
# Search order: $JAVA_HOME, then the usual install folders (newest first).

grok1j_java_major() {  # prints the feature version of the JDK at $1, or nothing
  local home="$1" v
  [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || return 0
  if [ -f "$home/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release" | head -n 1)
  fi
  if [ -z "${v:-}" ]; then
    v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  fi
  echo "${v:-}"
}

grok1j_find_jdk() {
  local c m
  for c in "${JAVA_HOME:-}" \
           $(ls -d /usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk* /usr/java/* \
                   "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/* /Library/Java/JavaVirtualMachines/*/Contents/Home \
                   2>/dev/null | sort -rV); do
    [ -n "$c" ] || continue
    m=$(grok1j_java_major "$c")
    if [ -n "$m" ] && [ "$m" -ge 25 ] 2>/dev/null; then
      GROK1J_JAVA_HOME="$c"
      return 0
    fi
  done
  echo "grok1j: no JDK 25 or newer found (checked JAVA_HOME and /usr/lib/jvm, /opt/java, ~/.sdkman); install one or set JAVA_HOME" >&2
  exit 2
}
grok1j_find_jdk
