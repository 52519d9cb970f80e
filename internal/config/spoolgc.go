package config

import (
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Config keys of the artifact spool volume and the garbage collection (issue 13).
const (
	// KeyArtifactSpoolGb is the size in GiB of the tracking server's spool volume for proxied
	// artifact transfers; 0 = none (the spool is then /var/tmp on the root volume).
	KeyArtifactSpoolGb = "artifactSpoolGb"
	// KeyGCOlderThan is the `mlflow gc --older-than` period of the daily garbage collection;
	// "" = no garbage collection.
	KeyGCOlderThan = "gcOlderThan"
)

// day2 parses the spool volume's size and the gc period.
func (p *parser) day2(c *Config) {
	c.ArtifactSpoolGiB = p.integer(KeyArtifactSpoolGb, 0, userdata.MaxSpoolGiB)
	c.GCOlderThan = p.str(KeyGCOlderThan)
	if c.GCOlderThan != "" {
		if err := userdata.CheckGCOlderThan(c.GCOlderThan); err != nil {
			p.fail(p.qualify(KeyGCOlderThan), "%v; allowed: \"\" (no garbage collection) or a period in mlflow gc's --older-than format from 1h to 36500d, e.g. 30d, 7d12h, 90m", err)
		}
	}
}

// SpoolVolumeGiB is the size of the spool volume the tracking server gets: ArtifactSpoolGiB in
// proxied mode, 0 in direct mode (clients move artifacts to and from S3 themselves, so nothing
// is spooled on the server).
func (c *Config) SpoolVolumeGiB() int {
	if c.ArtifactAccess != mlflowspec.ArtifactAccessProxied {
		return 0
	}
	return c.ArtifactSpoolGiB
}
