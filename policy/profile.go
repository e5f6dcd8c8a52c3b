package policy

import (
	"slices"
	"time"
)

// Role is what a user is to the console, from config: root and administrators may
// manage other users' second factors.
type Role string

const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
	RoleRoot  Role = "root"
)

// Roles name the console's root and administrator users, from config.
type Roles struct {
	Root   []string
	Admins []string
}

// Of returns user's role; names compare as one user (CanonicalUser).
func (r Roles) Of(user string) Role {
	switch {
	case contains(r.Root, user):
		return RoleRoot
	case contains(r.Admins, user):
		return RoleAdmin
	}
	return RoleUser
}

// Kind is what a second factor protects: the console's login, or its sensitive
// operations.
type Kind string

const (
	Login     Kind = "login"
	Operation Kind = "operation"
)

// Kinds are both kinds, in the order pages show them.
var Kinds = []Kind{Login, Operation}

// A Choice is one kind of protection as set: on or off, and the methods that may
// pass it, in order of preference (empty: every enabled method).
type Choice struct {
	On      bool     `json:"on"`
	Methods []Method `json:"methods,omitempty"`
}

// Choices are what a user (or an administrator for them) has set; a nil kind keeps
// the default. ChangedBy and ChangedAt say who changed them last, and when.
type Choices struct {
	Login     *Choice   `json:"login,omitempty"`
	Operation *Choice   `json:"operation,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// Of returns the choice for one kind, nil when the default applies.
func (c Choices) Of(k Kind) *Choice {
	if k == Login {
		return c.Login
	}
	return c.Operation
}

// With returns c with kind k set to ch.
func (c Choices) With(k Kind, ch Choice, by string, at time.Time) Choices {
	if k == Login {
		c.Login = &ch
	} else {
		c.Operation = &ch
	}
	c.ChangedBy, c.ChangedAt = by, at
	return c
}

// An Audience names users: everyone, the administrators (root and admins), root,
// or users by name.
type Audience struct {
	All, Admins, Root bool
	Users             []string
}

// Includes reports whether user, of role, is in the audience.
func (a Audience) Includes(user string, role Role) bool {
	return a.All || (a.Admins && role != RoleUser) || (a.Root && role == RoleRoot) || contains(a.Users, user)
}

// Empty reports whether the audience names nobody.
func (a Audience) Empty() bool { return !a.All && !a.Admins && !a.Root && len(a.Users) == 0 }

// Settings are who must pass what, from config: the methods on offer, the defaults
// users start with (and may change), and the mandates nobody but the config changes.
type Settings struct {
	// Methods are the enabled second-factor methods, in order of preference.
	Methods []Method
	// Defaults are where users start, per kind. With nothing configured: operation
	// protection on, login protection off.
	Defaults map[Kind]Choice
	// Mandates are floors, per kind: the users they name have that protection on,
	// whatever they or an administrator choose.
	Mandates map[Kind]Audience
	// Roles say who is root and who an administrator.
	Roles Roles
}

// RootDefault is root's default for operation protection, unless root changes it:
// on, SMS first (the product's "root has operation protection by SMS by default"),
// within the enabled methods.
var RootDefault = Choice{On: true, Methods: []Method{SMS, TOTP}}

// Default returns where user, of role, starts for kind.
func (s Settings) Default(k Kind, role Role) Choice {
	if k == Operation && role == RoleRoot {
		return RootDefault
	}
	if d, ok := s.Defaults[k]; ok {
		return d
	}
	return Choice{On: k == Operation}
}

// Protection is a user's effective protection: per kind, on or off, the methods that
// may pass it, and whether a mandate holds it on.
type Protection struct {
	Login, Operation                 bool
	LoginMethods, OperationMethods   []Method
	LoginMandated, OperationMandated bool
}

// On reports whether kind k is on.
func (p Protection) On(k Kind) bool {
	if k == Login {
		return p.Login
	}
	return p.Operation
}

// Methods returns the methods that may pass kind k.
func (p Protection) Methods(k Kind) []Method {
	if k == Login {
		return p.LoginMethods
	}
	return p.OperationMethods
}

// Mandated reports whether a mandate holds kind k on.
func (p Protection) Mandated(k Kind) bool {
	if k == Login {
		return p.LoginMandated
	}
	return p.OperationMandated
}

// For returns user's effective protection from the default, the user's choices and
// the mandates: a choice replaces the default, a mandate holds the kind on whatever
// was chosen, and the methods are the chosen ones that are enabled (all enabled ones
// when none is).
func (s Settings) For(user string, c Choices) Protection {
	role := s.Roles.Of(user)
	var p Protection
	for _, k := range Kinds {
		ch := s.Default(k, role)
		if own := c.Of(k); own != nil {
			ch = *own
		}
		mandated := s.Mandates[k].Includes(user, role)
		methods := intersect(ch.Methods, s.Methods)
		if len(methods) == 0 {
			methods = slices.Clone(s.Methods)
		}
		if k == Login {
			p.Login, p.LoginMethods, p.LoginMandated = ch.On || mandated, methods, mandated
		} else {
			p.Operation, p.OperationMethods, p.OperationMandated = ch.On || mandated, methods, mandated
		}
	}
	return p
}

// Profile is what the gateway knows of a user when it decides.
type Profile struct {
	User       string
	Role       Role
	Protection Protection
	// Bound are the methods the user has bound (an authenticator app, a phone).
	Bound []Method
	// Choices are the user's own settings.
	Choices Choices
}

// Offered returns the methods a challenge for kind k offers: allowed and bound.
func (p Profile) Offered(k Kind) []Method {
	return intersect(p.Protection.Methods(k), p.Bound)
}

// contains reports whether user is in list, names compared as one user
// (CanonicalUser).
func contains(list []string, user string) bool {
	for _, v := range list {
		if SameUser(v, user) {
			return true
		}
	}
	return false
}
