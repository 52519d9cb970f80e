package config

import (
	"strings"
	"testing"
)

// TestSpoolAndGCKeys: artifactSpoolGb takes 0 (no volume) to 16384 GiB (gp3's largest) and
// gcOlderThan "" (off) or a period `mlflow gc --older-than` parses; anything else is refused with
// the key, the range or format, and an example; the values reach Config, and direct access gets
// no spool volume whatever the size.
func TestSpoolAndGCKeys(t *testing.T) {
	for _, c := range []struct {
		key, value, want string // want "" = accepted
	}{
		{"artifactSpoolGb", "0", ""},
		{"artifactSpoolGb", "1", ""},
		{"artifactSpoolGb", "16384", ""},
		{"artifactSpoolGb", "-1", "mlflow-aws:artifactSpoolGb: -1 is out of range; allowed: 0 to 16384"},
		{"artifactSpoolGb", "16385", "mlflow-aws:artifactSpoolGb: 16385 is out of range; allowed: 0 to 16384"},
		{"artifactSpoolGb", "20GiB", "mlflow-aws:artifactSpoolGb: \"20GiB\" is not an integer; allowed: 0 to 16384"},
		{"gcOlderThan", "", ""},
		{"gcOlderThan", "30d", ""},
		{"gcOlderThan", "7d12h", ""},
		{"gcOlderThan", "0.5d", ""},
		{"gcOlderThan", "90m", ""},
		{"gcOlderThan", "30", "mlflow-aws:gcOlderThan: \"30\" is not a period like 30d"},
		{"gcOlderThan", "1 month", "mlflow-aws:gcOlderThan: \"1 month\" is not a period like 30d"},
		{"gcOlderThan", "12h3d", "allowed: \"\" (no garbage collection) or a period in mlflow gc's --older-than format"},
		{"gcOlderThan", "0d", "mlflow-aws:gcOlderThan: \"0d\" is outside 1h to 36500d"},
		{"gcOlderThan", "1s", "mlflow-aws:gcOlderThan: \"1s\" is outside 1h to 36500d"},
		{"gcOlderThan", "99999999999999999999d", "is outside 1h to 36500d"},
	} {
		cfg := valid()
		cfg["mlflow-aws:"+c.key] = c.value
		got, err := parseDev(cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s=%q refused: %v", c.key, c.value, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s=%q: error %v, want it to contain %q", c.key, c.value, err, c.want)
		case c.want == "" && c.key == "gcOlderThan" && got.GCOlderThan != c.value:
			t.Errorf("%s=%q: Config.GCOlderThan = %q", c.key, c.value, got.GCOlderThan)
		case c.want == "" && c.key == "artifactSpoolGb" && (got.SpoolVolumeGiB() != got.ArtifactSpoolGiB || got.ArtifactSpoolGiB == 0 && c.value != "0"):
			t.Errorf("%s=%q: ArtifactSpoolGiB %d, SpoolVolumeGiB %d", c.key, c.value, got.ArtifactSpoolGiB, got.SpoolVolumeGiB())
		}
	}
	cfg := valid()
	cfg["mlflow-aws:artifactAccess"] = "direct"
	got, err := parseDev(cfg)
	if err != nil {
		t.Fatalf("direct access: %v", err)
	}
	if got.ArtifactSpoolGiB != 20 || got.SpoolVolumeGiB() != 0 {
		t.Errorf("direct access: ArtifactSpoolGiB %d, SpoolVolumeGiB %d; want 20 and 0", got.ArtifactSpoolGiB, got.SpoolVolumeGiB())
	}
}
