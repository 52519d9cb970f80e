package config

import (
	"slices"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// MaxUsers bounds users: each is one SSM parameter and one RandomPassword, and the launcher
// reads them all at every start (GetParametersByPath pages of 10).
const MaxUsers = 50

// auth: MLflow authentication, its users and the promotion rule's aliases. With auth none the
// other auth keys are still checked (a typo should not wait until auth is turned on) but
// produce no AuthParams.
func (p *parser) auth(c *Config) {
	mode := p.str(KeyAuth)
	c.Auth = mlflowspec.AuthMode(mode)
	if !c.Auth.Valid() {
		p.fail(p.qualify(KeyAuth), "%q is not allowed; allowed: %q (users log in; the default) or %q (no authentication: whoever reaches the port may do anything)",
			mode, mlflowspec.AuthBasic, mlflowspec.AuthNone)
	}
	admin := p.str(KeyAdminUsername)
	if err := mlflowspec.CheckUsername(admin); err != nil {
		p.fail(p.qualify(KeyAdminUsername), "%v", err)
	}
	permission := mlflowspec.Permission(p.str(KeyDefaultPermission))
	if !permission.Valid() {
		allowed := make([]string, len(mlflowspec.Permissions))
		for i, q := range mlflowspec.Permissions {
			allowed[i] = string(q)
		}
		p.fail(p.qualify(KeyDefaultPermission), "%q is not an MLflow permission; allowed: %s", permission, strings.Join(allowed, ", "))
	}

	users := p.list(KeyUsers)
	if len(users) > MaxUsers {
		p.fail(p.qualify(KeyUsers), "lists %d users; at most %d", len(users), MaxUsers)
	}
	seen := map[string]bool{}
	for _, u := range users {
		switch err := mlflowspec.CheckUsername(u); {
		case err != nil:
			p.fail(p.qualify(KeyUsers), "%v", err)
		case seen[u]:
			p.fail(p.qualify(KeyUsers), "%q is listed twice", u)
		case u == admin:
			p.fail(p.qualify(KeyUsers), "%q is %s, the admin; list only the other users", u, p.qualify(KeyAdminUsername))
		default:
			if err := awsnames.CheckSSMParameterName(c.AuthParameterPath() + "/users/" + u); err != nil {
				p.fail(p.qualify(KeyUsers), "%q gives a password parameter name SSM refuses: %v", u, err)
			}
		}
		seen[u] = true
	}
	promoters := p.list(KeyPromoters)
	seenPromoter := map[string]bool{}
	for _, u := range promoters {
		switch {
		case seenPromoter[u]:
			p.fail(p.qualify(KeyPromoters), "%q is listed twice", u)
		case u == admin && p.valid(KeyAdminUsername):
			p.fail(p.qualify(KeyPromoters), "%q is the admin, who may always promote; list only users", u)
		case !slices.Contains(users, u) && p.valid(KeyUsers):
			p.fail(p.qualify(KeyPromoters), "%q is not in %s; allowed: names listed in %s (%s)", u, p.qualify(KeyUsers), p.qualify(KeyUsers), strings.Join(users, ", "))
		}
		seenPromoter[u] = true
	}

	production, staging := p.str(KeyProductionAlias), p.str(KeyStagingAlias)
	if err := mlflowspec.CheckAlias(production); err != nil {
		p.fail(p.qualify(KeyProductionAlias), "%v", err)
	}
	if err := mlflowspec.CheckAlias(staging); err != nil {
		p.fail(p.qualify(KeyStagingAlias), "%v", err)
	}
	if p.valid(KeyProductionAlias, KeyStagingAlias) && production == staging {
		p.fail(p.qualify(KeyStagingAlias), "%q is also %s; the promotion rule needs two different aliases", staging, p.qualify(KeyProductionAlias))
	}

	if c.Auth != mlflowspec.AuthBasic {
		return
	}
	c.AuthParams = &userdata.AuthParams{
		AdminUsername:          admin,
		DefaultPermission:      string(permission),
		Users:                  users,
		Promoters:              promoters,
		ProductionAlias:        production,
		StagingAlias:           staging,
		ParameterPath:          c.AuthParameterPath(),
		SecretKeyParameterName: c.FlaskSecretKeyParameterName(),
	}
	if len(c.AuthParams.Users) == 0 {
		c.AuthParams.Users = []string{}
	}
	if len(c.AuthParams.Promoters) == 0 {
		c.AuthParams.Promoters = []string{}
	}
}
