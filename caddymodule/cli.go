package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/gateway"
	"github.com/caddy-stepup/stepup/policy"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "stepup",
		Usage: "<command> [--config <path> [--adapter <name>]] [--json]",
		Short: "Manages users' second factors in the stepup store (the operators' break-glass)",
		Long: `
Manages users' second factors directly in the Redis store of the stepup handler that
the config names: list and show users, turn their login or operation protection on or
off (within the mandates), reset a lost authenticator or phone, revoke recovery codes,
unlock, sign a user out everywhere, and reseal every stored secret with the current
encryption key after a key rotation. Every change to a user is written to the user's
audit trail as done by "cli".

This is the break-glass for when no administrator can act (root lost their device): it
needs the config's keys (from the same environment as Caddy) and the store, and works
only with the Redis store (the memory store lives in the running Caddy process).`,
		CobraFunc: configureCLI,
	})
}

// cliActor is the actor of the command line's audit events.
const cliActor = "cli"

// configureCLI adds the stepup subcommands to cmd.
func configureCLI(cmd *cobra.Command) {
	var configFile, adapter string
	var asJSON bool
	cmd.PersistentFlags().StringVarP(&configFile, "config", "c", "", "Configuration file (default: a Caddyfile in the current directory)")
	cmd.PersistentFlags().StringVarP(&adapter, "adapter", "a", "", "Name of config adapter to apply")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "Print JSON")

	run := func(args cobra.PositionalArgs, do func(cmd *cobra.Command, a *gateway.Admin, args []string) (any, string, error)) func(*cobra.Command) {
		return func(c *cobra.Command) {
			c.Args = args
			c.RunE = func(c *cobra.Command, args []string) error {
				admin, done, err := openAdmin(configFile, adapter)
				if err != nil {
					return err
				}
				defer done()
				v, text, err := do(c, admin, args)
				if err != nil {
					return cliError(err)
				}
				if asJSON {
					enc := json.NewEncoder(c.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(v)
				}
				_, err = fmt.Fprint(c.OutOrStdout(), text)
				return err
			}
		}
	}
	sub := func(use, short string, configure func(*cobra.Command)) {
		c := &cobra.Command{Use: use, Short: short, SilenceUsage: true}
		configure(c)
		cmd.AddCommand(c)
	}

	var prefix, after string
	var limit int
	sub("users [--prefix <text>] [--after <name>] [--limit <n>]", "Lists users by name", func(c *cobra.Command) {
		c.Flags().StringVar(&prefix, "prefix", "", "Only names that start with this")
		c.Flags().StringVar(&after, "after", "", "Names after this one (the next page)")
		c.Flags().IntVar(&limit, "limit", 50, "At most this many")
		run(cobra.NoArgs, func(c *cobra.Command, a *gateway.Admin, _ []string) (any, string, error) {
			users, err := a.Users(c.Context(), prefix, after, limit)
			if users == nil {
				users = []string{}
			}
			return map[string]any{"users": users}, strings.Join(users, "\n") + "\n", err
		})(c)
	})
	sub("show <user>", "Shows a user's protection, factors, lock and recent events", run(cobra.ExactArgs(1), func(c *cobra.Command, a *gateway.Admin, args []string) (any, string, error) {
		st, err := a.User(c.Context(), args[0])
		return st, stateText(st), err
	}))
	sub("protection <user> login|operation on|off [<method>...]", "Turns a user's login or operation protection on or off", run(cobra.MinimumNArgs(3), func(c *cobra.Command, a *gateway.Admin, args []string) (any, string, error) {
		k, on := policy.Kind(args[1]), args[2]
		if (k != policy.Login && k != policy.Operation) || (on != "on" && on != "off") {
			return nil, "", usageError("expected `protection <user> login|operation on|off [<method>...]`")
		}
		next := policy.Choice{On: on == "on"}
		for _, m := range args[3:] {
			pm, err := policy.ParseMethod(m)
			if err != nil {
				return nil, "", usageError(err.Error())
			}
			next.Methods = append(next.Methods, pm)
		}
		if err := a.SetProtection(c.Context(), cliActor, args[0], k, next, ""); err != nil {
			return nil, "", err
		}
		return showAfter(c.Context(), a, args[0], fmt.Sprintf("%s protection of %s is %s.\n", k, args[0], on))
	}))
	sub("reset <user> totp|phone|recovery", "Resets a user's lost authenticator app or phone, or revokes their recovery codes", run(cobra.ExactArgs(2), func(c *cobra.Command, a *gateway.Admin, args []string) (any, string, error) {
		if args[1] != "totp" && args[1] != "phone" && args[1] != "recovery" {
			return nil, "", usageError("expected `reset <user> totp|phone|recovery`")
		}
		if err := a.Reset(c.Context(), cliActor, args[0], args[1], ""); err != nil {
			return nil, "", err
		}
		if args[1] == "recovery" {
			return showAfter(c.Context(), a, args[0], fmt.Sprintf("The recovery codes of %s are revoked and their gateway sessions are ended.\n", args[0]))
		}
		return showAfter(c.Context(), a, args[0], fmt.Sprintf("The %s of %s is reset and their gateway sessions are ended; they sign in and bind again.\n", args[1], args[0]))
	}))
	sub("unlock <user>", "Unlocks a user's second factor after too many wrong codes", run(cobra.ExactArgs(1), func(c *cobra.Command, a *gateway.Admin, args []string) (any, string, error) {
		if err := a.Unlock(c.Context(), cliActor, args[0], ""); err != nil {
			return nil, "", err
		}
		return showAfter(c.Context(), a, args[0], fmt.Sprintf("%s is unlocked.\n", args[0]))
	}))
	sub("reseal", "Seals every stored secret again with the current encryption key (after a key rotation)", func(c *cobra.Command) {
		c.Args = cobra.NoArgs
		c.Long = `Seals every authenticator secret and phone number in the store again with the
current encryption key (the first of encryption_key), on every master of a Redis
Cluster. Run it after every instance has the new key first; it is safe while the
gateway serves, and running it again does nothing more. When it reports nothing
sealed with another key, the previous encryption keys can be removed.`
		c.RunE = func(c *cobra.Command, _ []string) error {
			admin, done, err := openAdmin(configFile, adapter)
			if err != nil {
				return err
			}
			defer done()
			rep, err := admin.Reseal(c.Context())
			if err != nil {
				return cliError(err)
			}
			if asJSON {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if _, err := fmt.Fprint(c.OutOrStdout(), resealText(rep)); err != nil {
				return err
			}
			if n := rep.UnopenableCount(); n > 0 {
				return fmt.Errorf("%d sealed values open with no configured encryption key (sealed with %s): add that key after the current one and run reseal again",
					n, countsText(rep.Unopenable))
			}
			return nil
		}
	})
	sub("signout <user>", "Ends every gateway session and step-up token of a user", run(cobra.ExactArgs(1), func(c *cobra.Command, a *gateway.Admin, args []string) (any, string, error) {
		if err := a.SignOut(c.Context(), cliActor, args[0], ""); err != nil {
			return nil, "", err
		}
		return showAfter(c.Context(), a, args[0], fmt.Sprintf("%s is signed out of every gateway session (the console's own sessions end with the console).\n", args[0]))
	}))
}

// resealText is a reseal report for people.
func resealText(rep challenge.ResealReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Looked at %d records with sealed values; the current encryption key is %s.\n", rep.Records, rep.KeyID)
	if n := rep.ResealedCount(); n > 0 {
		fmt.Fprintf(&b, "Resealed %d values with %s (they were sealed with %s).\n", n, rep.KeyID, countsText(rep.Resealed))
	} else {
		b.WriteString("Resealed nothing.\n")
	}
	fmt.Fprintf(&b, "%d values were sealed with %s already.\n", rep.Current, rep.KeyID)
	if rep.Retried > 0 {
		fmt.Fprintf(&b, "%d records changed while they were resealed and were read again.\n", rep.Retried)
	}
	if rep.Damaged > 0 {
		fmt.Fprintf(&b, "%d records could not be read and were left as they are.\n", rep.Damaged)
	}
	if n := rep.UnopenableCount(); n > 0 {
		fmt.Fprintf(&b, "%d values open with no configured key (sealed with %s).\n", n, countsText(rep.Unopenable))
	} else {
		fmt.Fprintf(&b, "Every sealed value is sealed with %s: once every instance has it first, the previous encryption keys can be removed.\n", rep.KeyID)
	}
	return b.String()
}

// countsText is "kid: n, kid: n", in key order.
func countsText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func showAfter(ctx context.Context, a *gateway.Admin, user, text string) (any, string, error) {
	st, err := a.User(ctx, user)
	return st, text, err
}

// openAdmin provisions the config's stepup handler, outside a running Caddy, and
// returns its administration and a func that releases it.
func openAdmin(configFile, adapter string) (*gateway.Admin, func(), error) {
	cfg, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, nil, err
	}
	if cfg == nil {
		return nil, nil, usageError("no config: give --config <path> (a Caddyfile or JSON with a stepup handler)")
	}
	raw, err := stepupHandler(cfg)
	if err != nil {
		return nil, nil, err
	}
	var h Handler
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, nil, fmt.Errorf("reading the stepup handler: %v", err)
	}
	if st, err := readStore(h.StoreRaw); err != nil {
		return nil, nil, err
	} else if st.backend == "memory" {
		return nil, nil, errors.New("the config's stepup handler uses the memory store, whose state lives in the running Caddy process: the command line needs store redis")
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := h.Provision(ctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return h.gateway.Admin(), func() { _ = h.Cleanup(); cancel() }, nil
}

// stepupHandler finds the one stepup handler of a JSON config (several must agree on
// their store).
func stepupHandler(cfg []byte) (json.RawMessage, error) {
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		return nil, err
	}
	var found []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "stepup" {
				found = append(found, v)
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
	if len(found) == 0 {
		return nil, errors.New("the config has no stepup handler")
	}
	for _, h := range found[1:] {
		a, _ := json.Marshal(found[0]["store"])
		b, _ := json.Marshal(h["store"])
		if string(a) != string(b) {
			return nil, errors.New("the config has stepup handlers with different stores: give a config with one")
		}
	}
	return json.Marshal(found[0])
}

// usageError is a mistake on the command line.
type usageError string

func (e usageError) Error() string { return string(e) }

// cliError says what went wrong for people: the gateway's sentence, or the cause.
func cliError(err error) error {
	if e, ok := gateway.AsError(err); ok {
		if e.Err != nil {
			return fmt.Errorf("%s: %v", e.Description(), e.Err)
		}
		return errors.New(e.Description())
	}
	return err
}

// stateText is a user's state for people.
func stateText(st gateway.UserState) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("user", st.User)
	row("role", string(st.Role))
	for _, k := range []struct {
		name string
		ks   gateway.KindState
	}{{"login protection", st.Login}, {"operation protection", st.Operation}} {
		v := "off"
		if k.ks.On {
			v = "on (" + methodList(k.ks.Methods) + ")"
		}
		if k.ks.Mandated {
			v += ", required by the config"
		}
		row(k.name, v)
	}
	row("authenticator app", boundText(st.TOTPBoundAt))
	phone := "not bound"
	if st.Phone != "" {
		phone = st.Phone + ", " + boundText(st.PhoneBoundAt)
	}
	row("phone", phone)
	row("recovery codes", fmt.Sprintf("%d left", st.RecoveryCodes))
	if st.LockedUntil != nil {
		row("locked until", st.LockedUntil.Format(time.RFC3339))
	}
	if st.ChangedAt != nil {
		row("changed", "by "+st.ChangedBy+" at "+st.ChangedAt.Format(time.RFC3339))
	}
	w.Flush()
	if len(st.Events) > 0 {
		b.WriteString("recent events:\n")
		for _, ev := range st.Events {
			fmt.Fprintf(&b, "  %s  %-8s %-24s %s %s\n", ev.Time.Format(time.RFC3339), ev.Actor, ev.Action, ev.Result, ev.Detail)
		}
	}
	return b.String()
}

func boundText(t *time.Time) string {
	if t == nil {
		return "not bound"
	}
	return "bound " + t.Format(time.RFC3339)
}

func methodList(ms []policy.Method) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = string(m)
	}
	return strings.Join(parts, " ")
}
