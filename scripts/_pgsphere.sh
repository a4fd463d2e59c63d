# pgsphere for the PostgreSQL TAP backend. Usage (root): source scripts/_pgsphere.sh
#
# Debian bookworm's postgresql-15-pgsphere (1.2.0) fails `CREATE EXTENSION pg_sphere` on
# PostgreSQL 15.20 ("commutator operator @> is already the commutator of operator <@"): its
# script ends with two DaCHS-compatibility `@` operators on smoc that upstream pgsphere has
# dropped. We drop them from the installed script (once; a package upgrade restores the
# original, and the next run patches it again). TAP does not use smoc.
pgsphere_fix() {
  local dir script
  for dir in /usr/share/postgresql/*/extension; do
    script="$dir/pg_sphere--1.2.0.sql"
    [ -f "$script" ] || continue
    grep -q '^-- a minimal set of backwards-compatible operators for GAVO DaCHS' "$script" || continue
    awk '/^-- a minimal set of backwards-compatible operators for GAVO DaCHS/{skip=1; n=0}
         skip && /^\);/ {n++; if (n == 2) {skip = 0; next}}
         !skip' "$script" >"$script.fixed" && mv "$script.fixed" "$script"
    echo "patched $script (DaCHS smoc @ operators removed)" >&2
  done
}
