package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/config"
	"switchboard/internal/store"
)

// storeFlags adds --data-dir and --database to fs, defaulting to the
// environment serve reads, and returns a function that opens that store.
func storeFlags(fs *flag.FlagSet) func() (*store.Store, error) {
	dataDir := fs.String("data-dir", envOr("SWITCHBOARD_DATA_DIR", config.Default().DataDir), "the server's data `directory`")
	database := fs.String("database", os.Getenv("SWITCHBOARD_DATABASE"), "the server's PostgreSQL `URL`, if it uses PostgreSQL")
	return func() (*store.Store, error) {
		return store.OpenDatabase(context.Background(), *dataDir, *database)
	}
}

func apikey(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("apikey needs a subcommand: create, list or delete")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "delete":
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, `usage:
  switchboard apikey create [--name N]   a key for minting access tokens (its secret is printed once)
  switchboard apikey list
  switchboard apikey delete KEY
Each takes --data-dir and --database like serve.`)
		return nil
	default:
		return fmt.Errorf("unknown apikey subcommand %q (create, list, delete)", sub)
	}
	fs := flag.NewFlagSet("switchboard apikey "+sub, flag.ContinueOnError)
	openStore := storeFlags(fs)
	name := fs.String("name", "", "a `label` for the key, e.g. the app that uses it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch sub {
	case "create":
		id, secret := auth.NewAPIKey()
		if err := st.CreateAPIKey(ctx, store.APIKey{ID: id, Secret: secret, Name: *name, CreatedAt: time.Now()}); err != nil {
			return err
		}
		fmt.Fprintf(out, "API key created. Keep the secret safe: it is shown only now.\n\n  key:    %s\n  secret: %s\n", id, secret)
		return nil
	case "list":
		keys, err := st.APIKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tNAME\tCREATED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "delete":
		if fs.NArg() != 1 {
			return errors.New("usage: switchboard apikey delete KEY")
		}
		if err := st.DeleteAPIKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintln(out, "deleted", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("unknown apikey subcommand %q (create, list, delete)", sub)
}

// token mints a token locally, for trying the API or building links by hand.
func token(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("switchboard token", flag.ContinueOnError)
	openStore := storeFlags(fs)
	key := fs.String("key", "", "API key `id` to sign with (default: the only key)")
	identity := fs.String("identity", "", "who the token is for (required)")
	name := fs.String("name", "", "display `name` in meetings")
	roomID := fs.String("room", "", "limit the token to this `room`")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (at most 24h)")
	moderate := fs.Bool("moderate", false, "host powers")
	create := fs.Bool("create", false, "may create rooms")
	admin := fs.Bool("admin", false, "REST management (list and close rooms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *identity == "" {
		return errors.New("--identity is required")
	}
	if *ttl <= 0 || *ttl > 24*time.Hour {
		return errors.New("--ttl must be between 1s and 24h")
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if *key == "" {
		keys, err := st.APIKeys(ctx)
		if err != nil {
			return err
		}
		if len(keys) != 1 {
			return fmt.Errorf("there are %d API keys; choose one with --key (switchboard apikey list)", len(keys))
		}
		*key = keys[0].ID
	}
	k, err := st.APIKey(ctx, *key)
	if err != nil {
		return fmt.Errorf("API key %s: %w", *key, err)
	}
	now := time.Now()
	tok, err := auth.Mint(k.ID, []byte(k.Secret), auth.Claims{Identity: *identity, Name: *name, Room: *roomID,
		Join: true, Publish: true, Subscribe: true, Moderate: *moderate, Create: *create, Admin: *admin,
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(*ttl)})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
