package config

import (
	"fmt"
	"strconv"
	"strings"
)

// DeployedVersionPath is the SSM path of the stack's record of the MLflow release last deployed
// against its database, "/<project>/<stack>/deployed"; the record itself is the String
// parameter DeployedVersionParameterName. The program reads the path at every preview and up
// (an empty path on a first deploy) and writes the record after the tracking server.
func (c *Config) DeployedVersionPath() string {
	return c.parameterPrefix() + "/deployed"
}

// DeployedVersionParameterName is the SSM parameter holding the deployed release,
// "/<project>/<stack>/deployed/mlflow-version".
func (c *Config) DeployedVersionParameterName() string {
	return c.DeployedVersionPath() + "/mlflow-version"
}

// CheckUpgrade refuses an mlflowVersion older than deployed, the release last deployed against
// the stack's database ("" on a first deploy: anything goes). MLflow migrates its schema forward
// only ("mlflow db upgrade"); an older release cannot run on the newer schema (the launcher would
// refuse it too, exit 78). The error names the key, both releases and the way back.
//
// It also refuses a release change in the same update as switching the front door on or off
// (deployedBehindFrontDoor is the last deployment's mode): the old mode's servers are deleted
// only once the new mode's exist, so the new release would migrate the schema while an
// old-release server still writes (MLflow's upgrade guide: stop every writer first).
func (c *Config) CheckUpgrade(deployed string, deployedBehindFrontDoor bool) error {
	if deployed != "" && deployed != c.MLflowVersion && deployedBehindFrontDoor != (c.FrontDoor != nil) {
		return fmt.Errorf("%s:%s and %s:%s change together (%s -> %s, front door %s): the old servers would still write while the new release migrates the schema; "+
			"deploy one change, then the other (docs/operations.md, \"Front door\")",
			c.Project, KeyMLflowVersion, c.Project, KeyDomainName, deployed, c.MLflowVersion, map[bool]string{true: "added", false: "removed"}[c.FrontDoor != nil])
	}
	if deployed == "" || !olderRelease(c.MLflowVersion, deployed) {
		return nil
	}
	return fmt.Errorf("%s:%s: %q is older than %s, the release last deployed against this stack's database (SSM parameter %s): "+
		"MLflow cannot run on a newer schema; set it to %s or later, or restore the pre-upgrade snapshot (docs/operations.md, \"Going back to an older MLflow\")",
		c.Project, KeyMLflowVersion, c.MLflowVersion, deployed, c.DeployedVersionParameterName(), deployed)
}

// olderRelease reports whether release a (MAJOR.MINOR.PATCH) sorts before b; a value that is not
// a release compares as not older.
func olderRelease(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		x, errA := strconv.Atoi(pa[i])
		y, errB := strconv.Atoi(pb[i])
		if errA != nil || errB != nil {
			return false
		}
		if x != y {
			return x < y
		}
	}
	return false
}
