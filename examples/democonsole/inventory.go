package democonsole

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
)

// Instance is one fake virtual machine in the console's inventory.
type Instance struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Zone  string `json:"zone"`
	State string `json:"state"`
}

// seedInstances is what every user of a fresh console starts with.
var seedInstances = []Instance{
	{ID: "i-1001", Name: "web-01", Type: "s2.medium", Zone: "eu-central-1a", State: "running"},
	{ID: "i-1002", Name: "db-01", Type: "m2.large", Zone: "eu-central-1b", State: "running"},
	{ID: "i-1003", Name: "cache-01", Type: "s2.small", Zone: "eu-central-1a", State: "running"},
}

// seedBalanceCents is every user's balance due in a fresh console.
const seedBalanceCents = 12840

// instanceIDPattern is the shape of an instance id; anything else in a URL
// or query is not echoed back.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9]{1,12}$`)

// inventory is one user's mutable business state: instances and the billing
// balance. It is safe for concurrent use.
type inventory struct {
	mu           sync.Mutex
	instances    []Instance
	balanceCents int64
}

func newInventory() *inventory {
	return &inventory{instances: slices.Clone(seedInstances), balanceCents: seedBalanceCents}
}

// list returns a copy of all instances in id order.
func (inv *inventory) list() []Instance {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return slices.Clone(inv.instances)
}

// get returns the instance with the given id.
func (inv *inventory) get(id string) (Instance, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	i := slices.IndexFunc(inv.instances, func(in Instance) bool { return in.ID == id })
	if i < 0 {
		return Instance{}, false
	}
	return inv.instances[i], true
}

// remove deletes the instance with the given id and reports whether it
// existed.
func (inv *inventory) remove(id string) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	n := len(inv.instances)
	inv.instances = slices.DeleteFunc(inv.instances, func(in Instance) bool { return in.ID == id })
	return len(inv.instances) != n
}

// balance returns the amount due in cents.
func (inv *inventory) balance() int64 {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.balanceCents
}

// pay settles the balance.
func (inv *inventory) pay() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.balanceCents = 0
}

// reset puts the instances and the balance back to the starting set.
func (inv *inventory) reset() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.instances = slices.Clone(seedInstances)
	inv.balanceCents = seedBalanceCents
}

// inventories holds one inventory per user, so that one user's deletes and
// payments never show to another. A user's inventory is created from the
// seed the first time it is asked for; the console only asks for signed-in
// users, so there is at most one per account. It is safe for concurrent use.
type inventories struct {
	mu     sync.Mutex
	byUser map[string]*inventory
}

func newInventories() *inventories {
	return &inventories{byUser: make(map[string]*inventory)}
}

// of returns user's inventory, creating it from the seed if needed.
func (s *inventories) of(user string) *inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.byUser[user]
	if !ok {
		inv = newInventory()
		s.byUser[user] = inv
	}
	return inv
}

// formatCents renders an amount of cents as dollars, e.g. "$128.40".
func formatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%d.%02d", sign, c/100, c%100)
}
