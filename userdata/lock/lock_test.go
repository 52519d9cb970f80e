package lock

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryLockIsFullyPinnedAndHashed: every embedded lock pins mlflow[auth]'s release it is named
// after, psycopg2-binary and boto3, and every requirement is "name==version" followed by at least
// one sha256 hash, so pip --require-hashes --no-deps accepts it and nothing floats.
func TestEveryLockIsFullyPinnedAndHashed(t *testing.T) {
	versions := Versions()
	if len(versions) < 2 || versions[0] != "3.5.0" {
		t.Fatalf("locked versions %q: want the oldest accepted release 3.5.0 and the default", versions)
	}
	req := regexp.MustCompile(`^([a-z0-9][a-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)( ; .*)? \\$`)
	hash := regexp.MustCompile(`^    --hash=sha256:[0-9a-f]{64}( \\)?$`)
	for _, v := range versions {
		l, err := For(v)
		if err != nil {
			t.Fatal(err)
		}
		pins := map[string]string{}
		lines := strings.Split(strings.TrimSuffix(l.Content, "\n"), "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			if strings.HasPrefix(line, "#") {
				continue
			}
			m := req.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s line %d %q is not a pinned requirement", v, i+1, line)
			}
			pins[m[1]] = m[2]
			n := 0
			for i+1 < len(lines) && hash.MatchString(lines[i+1]) {
				i++
				n++
				if !strings.HasSuffix(lines[i], `\`) {
					break
				}
			}
			if n == 0 {
				t.Errorf("%s: %s has no hash", v, m[1])
			}
		}
		for name, want := range map[string]string{"mlflow": v, "mlflow-skinny": v, "psycopg2-binary": "2.9.13", "boto3": "1.44.5"} {
			if pins[name] != want {
				t.Errorf("%s: %s pinned at %q, want %q", v, name, pins[name], want)
			}
		}
		if _, ok := pins["flask-wtf"]; !ok {
			t.Errorf("%s: flask-wtf (mlflow[auth]'s extra) is not in the lock", v)
		}
		if !regexp.MustCompile(`^bootstrap/mlflow-` + regexp.QuoteMeta(v) + `-[0-9a-f]{12}\.txt$`).MatchString(l.ObjectKey()) {
			t.Errorf("%s: object key %q", v, l.ObjectKey())
		}
	}
}

// TestForNamesTheLockedVersions: an unlocked release is refused with the list of locked ones and
// the make command that adds a lock; versions order numerically.
func TestForNamesTheLockedVersions(t *testing.T) {
	_, err := For("3.4.0")
	if err == nil || !strings.Contains(err.Error(), strings.Join(Versions(), ", ")) || !strings.Contains(err.Error(), "make lock MLFLOW_VERSION=3.4.0") {
		t.Errorf("For(3.4.0) = %v", err)
	}
	got := []string{"3.17.2", "3.5.0", "3.10.1", "3.5.1"}
	slices.SortFunc(got, compareVersions)
	if want := []string{"3.5.0", "3.5.1", "3.10.1", "3.17.2"}; !slices.Equal(got, want) {
		t.Errorf("numeric order %q, want %q", got, want)
	}
}
