package mlflowspec

import "testing"

// TestCheckRelease: final releases from 3.5.0 on are accepted; pre-releases, local versions and
// older releases are not (one rule for the configuration and the renderer).
func TestCheckRelease(t *testing.T) {
	for _, v := range []string{"3.5.0", "3.17.0", "3.10.12", "4.0.0", "10.12.1"} {
		if err := CheckRelease(v); err != nil {
			t.Errorf("CheckRelease(%q): %v", v, err)
		}
	}
	for _, v := range []string{"", "3.4.9", "2.22.0", "3.17.0rc1", "3.17.0.post1", "3.17", "v3.17.0", "3.17.0 ", "03.1.0", "3.17.0+local"} {
		if CheckRelease(v) == nil {
			t.Errorf("CheckRelease(%q) accepted", v)
		}
	}
}

// TestArtifactAccess: exactly the two modes are valid.
func TestArtifactAccess(t *testing.T) {
	for _, a := range ArtifactAccessModes {
		if !a.Valid() {
			t.Errorf("%q invalid", a)
		}
	}
	for _, a := range []ArtifactAccess{"", "Proxied", "s3", "proxy"} {
		if a.Valid() {
			t.Errorf("%q valid", a)
		}
	}
}
