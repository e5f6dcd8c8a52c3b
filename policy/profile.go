package policy

// Role is what a user is to the console, from config: root and administrators may
// manage other users' second factors.
type Role string

const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
	RoleRoot  Role = "root"
)

// Protection is what a user must pass a second factor for, and with which methods.
type Protection struct {
	// Login: the console's login is held until a second factor passes.
	Login bool
	// Operation: sensitive operations need a recent second factor.
	Operation bool
	// Methods the user may pass, in order of preference. Either one suffices.
	Methods []Method
}

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

// Profile is what the gateway knows of a user when it decides.
type Profile struct {
	User       string
	Role       Role
	Protection Protection
	// Bound are the methods the user has bound (an authenticator app, a phone).
	Bound []Method
}

// Offered returns the methods a challenge offers: enabled and bound.
func (p Profile) Offered() []Method {
	return intersect(p.Protection.Methods, p.Bound)
}

// Enforcement says, from config, who is protected. A per-user setting (a later
// feature) is applied on top of it by the caller before deciding.
type Enforcement struct {
	// LoginAll / OperationAll protect everyone; LoginUsers / OperationUsers name users.
	LoginAll       bool
	LoginUsers     []string
	OperationAll   bool
	OperationUsers []string
	// Methods enabled for protected users, in order of preference.
	Methods []Method
}

// For returns the protection config gives user.
func (e Enforcement) For(user string) Protection {
	return Protection{
		Login:     e.LoginAll || contains(e.LoginUsers, user),
		Operation: e.OperationAll || contains(e.OperationUsers, user),
		Methods:   e.Methods,
	}
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
