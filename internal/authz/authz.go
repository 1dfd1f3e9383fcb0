// Package authz is gantry's role-based authorization: the four site roles
// with Coder's meaning and a small table of permissions. It is deliberately
// a table, not a policy engine: gantry has a handful of resources, and one
// bit mask per role keeps every check a single AND on the hot path.
package authz

import (
	"slices"

	"github.com/google/uuid"
)

// Site role names as Coder spells them.
const (
	RoleOwner     = "owner"
	RoleAuditor   = "auditor"
	RoleUserAdmin = "user-admin"
	// RoleMember is implicit: every user has it and it is never stored.
	RoleMember = "member"
)

// Permission is one thing a subject may be allowed to do.
type Permission uint8

const (
	// ReadDeploymentConfig allows GET /deployment/config.
	ReadDeploymentConfig Permission = iota
	// ReadDeploymentStats allows GET /deployment/stats.
	ReadDeploymentStats
	// ReadAllUsers allows reading and listing every user.
	ReadAllUsers
	// ManageUsers allows creating, suspending, activating and deleting other
	// users and changing their roles (subject to CanAssignRole).
	ManageUsers
	// ManageAllAPIKeys allows reading, creating and deleting API keys that
	// belong to other users. In Coder the api_key resource of another user
	// is owner-only; user-admins manage accounts, not credentials.
	ManageAllAPIKeys
	// ReadAllInterceptions allows reading every user's AI Bridge records.
	ReadAllInterceptions
	// BypassRateLimit allows the X-Coder-Bypass-Ratelimit header.
	BypassRateLimit
	permissionCount
)

var permissionNames = [permissionCount]string{
	ReadDeploymentConfig: "read deployment config",
	ReadDeploymentStats:  "read deployment stats",
	ReadAllUsers:         "read all users",
	ManageUsers:          "manage users",
	ManageAllAPIKeys:     "manage all API keys",
	ReadAllInterceptions: "read all AI Bridge interceptions",
	BypassRateLimit:      "bypass rate limits",
}

func (p Permission) String() string {
	if p < permissionCount {
		return permissionNames[p]
	}
	return "unknown permission"
}

type mask uint64

func bits(ps ...Permission) mask {
	var m mask
	for _, p := range ps {
		m |= 1 << p
	}
	return m
}

// role describes one site role.
type role struct {
	name        string
	displayName string
	perms       mask
	// assignable lists the roles a holder of this role may grant or revoke.
	assignable []string
}

// roles is the permission table. Owner holds everything.
var roles = []role{
	{
		name: RoleOwner, displayName: "Owner",
		perms:      ^mask(0),
		assignable: []string{RoleOwner, RoleAuditor, RoleUserAdmin, RoleMember},
	},
	{
		name: RoleAuditor, displayName: "Auditor",
		perms: bits(ReadDeploymentConfig, ReadDeploymentStats, ReadAllUsers, ReadAllInterceptions),
	},
	{
		name: RoleUserAdmin, displayName: "User Admin",
		perms:      bits(ReadAllUsers, ManageUsers),
		assignable: []string{RoleMember},
	},
	{
		name: RoleMember, displayName: "Member",
	},
}

func lookup(name string) (role, bool) {
	for _, r := range roles {
		if r.name == name {
			return r, true
		}
	}
	return role{}, false
}

// IsSiteRole reports whether name is a known site role (member included).
func IsSiteRole(name string) bool {
	_, ok := lookup(name)
	return ok
}

// DisplayName returns the human name of a role ("User Admin"), or the name
// itself for unknown roles.
func DisplayName(name string) string {
	if r, ok := lookup(name); ok {
		return r.displayName
	}
	return name
}

// SiteRoles returns every site role name, member last.
func SiteRoles() []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, r.name)
	}
	return out
}

// Subject is who is acting: a signed-in user and their site roles.
type Subject struct {
	UserID   uuid.UUID
	Username string
	// Roles are the stored site roles; the implicit member role may be
	// absent.
	Roles []string
}

func (s Subject) mask() mask {
	var m mask
	for _, name := range s.Roles {
		if r, ok := lookup(name); ok {
			m |= r.perms
		}
	}
	return m
}

// Can reports whether the subject holds permission p.
func (s Subject) Can(p Permission) bool {
	return s.mask()&(1<<p) != 0
}

// HasRole reports whether the subject holds the named role (member always).
func (s Subject) HasRole(name string) bool {
	return name == RoleMember || slices.Contains(s.Roles, name)
}

// IsOwner reports whether the subject is a site owner.
func (s Subject) IsOwner() bool { return s.HasRole(RoleOwner) }

// Is reports whether the subject is the given user.
func (s Subject) Is(userID uuid.UUID) bool { return s.UserID == userID }

// CanAssignRole reports whether the subject may grant or revoke roleName.
func (s Subject) CanAssignRole(roleName string) bool {
	for _, held := range s.Roles {
		if r, ok := lookup(held); ok && slices.Contains(r.assignable, roleName) {
			return true
		}
	}
	return false
}

// CanActOnUser reports whether the subject may manage (suspend, activate,
// delete, re-role) a user holding targetRoles. Managing yourself is decided
// by the caller. A non-owner may never manage an owner, so a user-admin
// cannot lock the owners out.
func (s Subject) CanActOnUser(targetRoles []string) bool {
	if !s.Can(ManageUsers) {
		return false
	}
	if slices.Contains(targetRoles, RoleOwner) && !s.IsOwner() {
		return false
	}
	return true
}
