package userdata

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// runHelper runs the real mlflow-db-state with /usr/bin/python3 in exactly the environment the
// launcher gives it: MLFLOW_BACKEND_STORE_URI (BackendStoreURI(p)) and PGPASSWORD.
func runHelper(t *testing.T, python, helper, uri, password string) (string, string, error) {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8", EnvBackendStoreURI + "=" + uri, "PGPASSWORD=" + password}
	return run(t, time.Minute, env, "", python, helper)
}

// TestBackendStoreConnectsWithGeneratedPasswords protects C2 and the TLS contract against a real
// PostgreSQL 15 whose certificate (SAN DNS:localhost, IP:127.0.0.1) is signed by a test CA: for
// many passwords drawn from the generator's exact alphabet (and one holding every special
// character), the real db-state helper connects through the exact URI form
// (BackendStoreURIWithRootCert(p, test CA)) with PGPASSWORD and reports "empty" / "initialized"
// correctly; a wrong password fails with a one-line message that does not echo it; and
// sslmode=verify-full refuses a certificate from another CA, a certificate not naming the host,
// and a server without TLS.
func TestBackendStoreConnectsWithGeneratedPasswords(t *testing.T) {
	t.Parallel()
	python := requireSystemPython(t)
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	helper := filepath.Join(t.TempDir(), "mlflow-db-state")
	if err := testenv.WriteExecutable(helper, []byte(mustFile(t, d, files, DBStateHelperPath))); err != nil {
		t.Fatal(err)
	}

	ca := testenv.NewCA(t, "userdata test RDS CA")
	srv := testenv.StartPostgres(t, new(ca.Issue(t, "localhost", "DNS:localhost,IP:127.0.0.1")))
	p := devLikeParams()
	p.BackendStoreHost, p.BackendStorePort = "127.0.0.1", srv.Port
	uri := BackendStoreURIWithRootCert(p, ca.Cert)
	if want := strings.Replace(BackendStoreURI(p), "sslrootcert="+RDSCABundlePath, "sslrootcert="+ca.Cert, 1); uri != want {
		t.Fatalf("test URI %q is not the program's URI form %q with the test CA", uri, want)
	}
	srv.CreateOwner(t, p.DatabaseUser, p.DatabaseName, "initial")

	// Each draw costs one helper run (~0.3-0.6 s: Python + SQLAlchemy start-up dominates).
	draws := 30
	if testing.Short() {
		draws = 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("password seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 23))
	passwords := []string{everySpecialPassword}
	for len(passwords) < draws {
		passwords = append(passwords, randomPassword(rng, 8+rng.IntN(33)))
	}
	for i, pw := range passwords {
		// The everything-special password checks both states; the others alternate, so each state
		// is seen with ~15 different passwords while keeping one helper run per draw.
		states := []string{"empty", "initialized"}
		if i > 0 {
			states = states[i%2 : i%2+1]
		}
		sql := fmt.Sprintf("ALTER ROLE %s PASSWORD %s;\nDROP TABLE IF EXISTS public.alembic_version;\n", p.DatabaseUser, testenv.SQLLiteral(pw))
		for _, want := range states {
			if want == "initialized" {
				sql += fmt.Sprintf("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);\nALTER TABLE public.alembic_version OWNER TO %s;\n", p.DatabaseUser)
			}
			srv.SQL(t, p.DatabaseName, sql)
			sql = ""
			stdout, stderr, err := runHelper(t, python, helper, uri, pw)
			if err != nil || stdout != want+"\n" {
				t.Fatalf("password %q (draw %d): helper printed %q, want %q (err %v)\nstderr: %s", pw, i, stdout, want, err, stderr)
			}
			if strings.Contains(stdout+stderr, pw) {
				t.Fatalf("password %q (draw %d): helper output contains the password", pw, i)
			}
		}
	}
	last := passwords[len(passwords)-1]
	wantState := []string{"empty", "initialized"}[(len(passwords)-1)%2]
	if len(passwords) == 1 {
		wantState = "initialized"
	}

	// refused runs the helper with uri and password pw and fails unless it exits non-zero with
	// no state and a stderr containing wantErr.
	refused := func(t *testing.T, uri, pw, wantErr string) {
		t.Helper()
		stdout, stderr, err := runHelper(t, python, helper, uri, pw)
		if err == nil || stdout != "" || !strings.Contains(stderr, wantErr) {
			t.Errorf("helper with %s: err=%v stdout=%q stderr=%q; want a refusal containing %q", uri, err, stdout, stderr, wantErr)
		}
		if strings.Contains(stderr, pw) {
			t.Errorf("helper error echoes the password")
		}
	}

	t.Run("host localhost verifies too", func(t *testing.T) {
		q := p
		q.BackendStoreHost = "localhost"
		if stdout, stderr, err := runHelper(t, python, helper, BackendStoreURIWithRootCert(q, ca.Cert), last); err != nil || stdout != wantState+"\n" {
			t.Errorf("helper via localhost: err=%v stdout=%q stderr=%q, want %q", err, stdout, stderr, wantState)
		}
	})

	t.Run("wrong password fails with one line", func(t *testing.T) {
		wrong := last + "x"
		stdout, stderr, err := runHelper(t, python, helper, uri, wrong)
		if err == nil || stdout != "" {
			t.Fatalf("helper with a wrong password: err=%v stdout=%q, want a non-zero exit and no state", err, stdout)
		}
		if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "mlflow-db-state: ") {
			t.Errorf("helper error is not one mlflow-db-state line:\n%s", stderr)
		}
		if strings.Contains(stderr, wrong) {
			t.Errorf("helper error echoes the password")
		}
	})

	t.Run("verify-full refuses a certificate from another CA", func(t *testing.T) {
		other := testenv.NewCA(t, "userdata test RDS CA") // same name, other key
		refused(t, BackendStoreURIWithRootCert(p, other.Cert), last, "certificate verify failed")
	})

	t.Run("verify-full refuses a certificate not naming the host", func(t *testing.T) {
		t.Parallel()
		named := testenv.StartPostgres(t, new(ca.Issue(t, "db.example.com", "DNS:db.example.com")))
		named.CreateOwner(t, p.DatabaseUser, p.DatabaseName, everySpecialPassword)
		q := p
		q.BackendStorePort = named.Port
		refused(t, BackendStoreURIWithRootCert(q, ca.Cert), everySpecialPassword, `does not match host name "127.0.0.1"`)
		// Control: the chain is good (verify-ca, which skips the name check, connects), so the
		// refusal is the host name check's.
		verifyCA := strings.Replace(BackendStoreURIWithRootCert(q, ca.Cert), "sslmode=verify-full", "sslmode=verify-ca", 1)
		if stdout, stderr, err := runHelper(t, python, helper, verifyCA, everySpecialPassword); err != nil || stdout != "empty\n" {
			t.Errorf("control with verify-ca failed: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
	})

	t.Run("verify-full refuses a server without TLS", func(t *testing.T) {
		t.Parallel()
		plain := testenv.StartPostgres(t, nil)
		plain.CreateOwner(t, p.DatabaseUser, p.DatabaseName, everySpecialPassword)
		q := p
		q.BackendStorePort = plain.Port
		refused(t, BackendStoreURIWithRootCert(q, ca.Cert), everySpecialPassword, "SSL")
		// Control: the same server is reachable without TLS, so the refusal is TLS's.
		noTLS := fmt.Sprintf("postgresql://%s@127.0.0.1:%d/%s?sslmode=disable", p.DatabaseUser, plain.Port, p.DatabaseName)
		if stdout, stderr, err := runHelper(t, python, helper, noTLS, everySpecialPassword); err != nil || stdout != "empty\n" {
			t.Errorf("control without TLS failed: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
	})
}
