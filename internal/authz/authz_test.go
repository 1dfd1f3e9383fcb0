package authz_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/authz"
)

func TestPermissionTable(t *testing.T) {
	t.Parallel()
	type want map[authz.Permission]bool
	cases := []struct {
		roles []string
		want  want
	}{
		{[]string{"owner"}, want{
			authz.ReadDeploymentConfig: true, authz.ReadDeploymentStats: true, authz.ReadAllUsers: true,
			authz.ManageUsers: true, authz.ManageAllAPIKeys: true, authz.ReadAllInterceptions: true, authz.BypassRateLimit: true,
		}},
		{[]string{"auditor"}, want{
			authz.ReadDeploymentConfig: true, authz.ReadDeploymentStats: true, authz.ReadAllUsers: true,
			authz.ReadAllInterceptions: true,
		}},
		{[]string{"user-admin"}, want{authz.ReadAllUsers: true, authz.ManageUsers: true}},
		{nil, want{}},
		{[]string{"member"}, want{}},
		{[]string{"no-such-role"}, want{}},
		{[]string{"auditor", "user-admin"}, want{
			authz.ReadDeploymentConfig: true, authz.ReadDeploymentStats: true, authz.ReadAllUsers: true,
			authz.ReadAllInterceptions: true, authz.ManageUsers: true,
		}},
	}
	perms := []authz.Permission{
		authz.ReadDeploymentConfig, authz.ReadDeploymentStats, authz.ReadAllUsers, authz.ManageUsers,
		authz.ManageAllAPIKeys, authz.ReadAllInterceptions, authz.BypassRateLimit,
	}
	for _, tc := range cases {
		s := authz.Subject{Roles: tc.roles}
		for _, p := range perms {
			require.Equal(t, tc.want[p], s.Can(p), "roles %v permission %s", tc.roles, p)
		}
	}
}

func TestRoleAssignment(t *testing.T) {
	t.Parallel()
	owner := authz.Subject{Roles: []string{"owner"}}
	userAdmin := authz.Subject{Roles: []string{"user-admin"}}
	auditor := authz.Subject{Roles: []string{"auditor"}}
	for _, r := range []string{"owner", "auditor", "user-admin", "member"} {
		require.True(t, owner.CanAssignRole(r))
		require.False(t, auditor.CanAssignRole(r))
	}
	require.True(t, userAdmin.CanAssignRole("member"))
	require.False(t, userAdmin.CanAssignRole("owner"))
	require.False(t, userAdmin.CanAssignRole("auditor"))

	require.True(t, owner.CanActOnUser([]string{"owner"}))
	require.True(t, userAdmin.CanActOnUser([]string{"auditor"}))
	require.False(t, userAdmin.CanActOnUser([]string{"owner"}))
	require.False(t, auditor.CanActOnUser(nil))
}

func TestDisplayNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Owner", authz.DisplayName("owner"))
	require.Equal(t, "Auditor", authz.DisplayName("auditor"))
	require.Equal(t, "User Admin", authz.DisplayName("user-admin"))
	require.Equal(t, "Member", authz.DisplayName("member"))
	require.Equal(t, "custom", authz.DisplayName("custom"))
	require.ElementsMatch(t, []string{"owner", "auditor", "user-admin", "member"}, authz.SiteRoles())
	require.True(t, authz.IsSiteRole("user-admin"))
	require.False(t, authz.IsSiteRole("template-admin"))
}
