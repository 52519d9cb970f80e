package config

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// userDataFits renders the tracking server's user data as the deployment will, with the values
// only AWS knows (the RDS address, the Elastic IP and its DNS name, a generated bucket name)
// replaced by placeholders of their longest form, and refuses the configuration when the
// gzipped document would exceed EC2's 16 KiB user data limit (Amazon EC2 User Guide, "Run
// commands when you launch an EC2 instance with user data input"). allowedHosts is the one
// input without a bound of its own, so the problem names it (users are bounded by MaxUsers, but
// their names count too). It runs when every input of the user data is valid, whatever problems
// other keys have.
func (p *parser) userDataFits(c *Config) {
	if !p.valid(KeyRegion, KeyMLflowVersion, KeyAllowedHosts, KeyDomainName, KeyWorkers, KeyArtifactAccess,
		KeyDBInstanceIdentifier, KeyArtifactBucketName, "project name",
		KeyAuth, KeyAdminUsername, KeyDefaultPermission, KeyUsers, KeyPromoters, KeyProductionAlias, KeyStagingAlias,
		KeyArtifactSpoolGb, KeyGCOlderThan) {
		return
	}
	params := WorstCaseUserDataParams(c)
	doc, err := userdata.Render(params)
	if err != nil {
		p.fail("user data", "the launch cannot be rendered from this configuration: %v", err)
		return
	}
	size, err := userdata.EncodedSize(doc)
	if err != nil {
		p.fail("user data", "%v", err)
		return
	}
	if size > userdata.MaxUserDataBytes {
		p.fail(p.qualify(KeyAllowedHosts), "its %d hosts (%d characters), with %d users, make the tracking server's user data %d bytes gzipped, over EC2's limit of %d; list fewer or shorter hosts",
			len(c.AllowedHosts), len(strings.Join(c.AllowedHosts, ",")), authUsers(c), size, userdata.MaxUserDataBytes)
	}
}

// WorstCaseUserDataParams is the user data input of c with each value AWS assigns at deploy
// time replaced by a placeholder of its longest form, of pseudo-random characters (which gzip
// cannot shrink more than the real value):
//   - the RDS address "<identifier>.<12 characters>.<region>.rds.amazonaws.com.cn";
//   - the Elastic IP "255.255.255.255" and its DNS name
//     "ec2-255-255-255-255.<region>.compute.amazonaws.com.cn";
//   - a generated bucket name: the prefix and the provider's 26-digit suffix.
func WorstCaseUserDataParams(c *Config) userdata.Params {
	rng := rand.New(rand.NewPCG(1, 1))
	noise := func(n int) string {
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	bucket := c.ArtifactBucketName
	if bucket == "" {
		bucket = c.BucketPrefix + digits(awsnames.BucketNameSuffixLen)
	}
	return userdata.Params{
		MLflowVersion:         c.MLflowVersion,
		Region:                c.Region,
		BackendStoreHost:      fmt.Sprintf("%s.%s.%s.rds.amazonaws.com.cn", c.DBInstanceIdentifier, noise(12), c.Region),
		BackendStorePort:      65535,
		DatabaseName:          mlflowspec.DatabaseName,
		DatabaseUser:          mlflowspec.DatabaseUser,
		PasswordParameterName: c.PasswordParameterName(),
		ArtifactAccess:        string(c.ArtifactAccess),
		ArtifactsURI:          "s3://" + bucket + "/" + mlflowspec.ArtifactsPrefix,
		AllowedHosts: mlflowspec.ServerAllowedHosts("255.255.255.255",
			"ec2-255-255-255-255."+c.Region+".compute.amazonaws.com.cn", append(slices.Clone(c.AllowedHosts), frontDoorHosts(c)...)),
		Workers: c.Workers,
		Port:    mlflowspec.TrackingPort,
		// The launch's auth settings are known from the configuration: as they will be.
		Auth: c.AuthParams,
		// The agent's log group and namespace follow from project and stack.
		Monitoring:  c.MonitoringParams(),
		SpoolVolume: c.SpoolVolumeGiB() > 0,
		GCOlderThan: c.GCOlderThan,
	}
}

// frontDoorHosts are the Host header values the front door adds to the launch (none without).
func frontDoorHosts(c *Config) []string {
	if c.FrontDoor == nil {
		return nil
	}
	return mlflowspec.FrontDoorHosts(c.FrontDoor.DomainName)
}

// authUsers is the number of configured users the launch carries.
func authUsers(c *Config) int {
	if c.AuthParams == nil {
		return 0
	}
	return len(c.AuthParams.Users)
}
