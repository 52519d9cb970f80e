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
func (c *Config) CheckUpgrade(deployed string) error {
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
