package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/sip"
	"switchboard/internal/store"
)

const sipUsage = `usage:
  switchboard sip account add --username U [--display-name D] [--user USERNAME] [--disabled] [--password-stdin]
  switchboard sip account list
  switchboard sip account delete USERNAME
  switchboard sip account passwd USERNAME [--password-stdin]
Each takes --data-dir and --database like serve, and --realm: the server's SIP
realm (default: $SWITCHBOARD_SIP_REALM, else the host of $SWITCHBOARD_PUBLIC_URL,
else this machine's host name, the same rule as serve). Passwords are stored only
as digest hashes bound to the realm. Without --password-stdin a password is
generated and printed once. A running server drops the phones of a deleted
account within a minute; a new password takes effect at the phone's next
registration (the REST API does both at once).`

// sipCmd manages SIP accounts from the command line.
func sipCmd(args []string, stdin io.Reader, out io.Writer) error {
	if len(args) > 0 && (args[len(args)-1] == "--help" || args[len(args)-1] == "-h" || args[0] == "help") {
		fmt.Fprintln(out, sipUsage)
		return nil
	}
	if len(args) < 2 || args[0] != "account" {
		return errors.New(sipUsage)
	}
	sub, args := args[1], args[2:]
	switch sub {
	case "add", "list", "delete", "passwd":
	default:
		return fmt.Errorf("unknown sip account subcommand %q\n%s", sub, sipUsage)
	}
	fs := flag.NewFlagSet("switchboard sip account "+sub, flag.ContinueOnError)
	openStore := storeFlags(fs)
	defaults := config.Config{PublicURL: os.Getenv("SWITCHBOARD_PUBLIC_URL"), SIP: config.SIP{Realm: os.Getenv("SWITCHBOARD_SIP_REALM")}}
	realm := fs.String("realm", defaults.SIPRealm(), "the server's SIP `realm` (sip.realm)")
	username := fs.String("username", "", "the account's `name`: the phone's user name and extension (letters, digits, . _ - + ~)")
	display := fs.String("display-name", "", "the `name` shown to people the phone calls")
	linkUser := fs.String("user", "", "the Switchboard `username` this phone belongs to (optional)")
	disabled := fs.Bool("disabled", false, "create the account switched off")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	// Flags may come before or after the USERNAME argument.
	if err := fs.Parse(args); err != nil {
		return err
	}
	var target string
	if fs.NArg() > 0 {
		target = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), sipUsage)
		}
	}
	needTarget := sub == "delete" || sub == "passwd"
	switch {
	case needTarget && target == "":
		return fmt.Errorf("switchboard sip account %s needs a USERNAME\n%s", sub, sipUsage)
	case !needTarget && target != "":
		return fmt.Errorf("switchboard sip account %s takes no argument %q\n%s", sub, target, sipUsage)
	}
	if strings.TrimSpace(*realm) == "" {
		return errors.New("--realm is empty: give the server's SIP realm (sip.realm)")
	}

	password := func() (string, bool, error) {
		if !*pwStdin {
			return sip.GeneratePassword(), true, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", false, fmt.Errorf("read the password from standard input: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		return pw, false, sip.CheckPassword(pw)
	}

	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	find := func() (store.SIPAccount, error) {
		a, err := st.SIPAccountByUsername(ctx, target)
		if errors.Is(err, store.ErrNotFound) {
			return a, fmt.Errorf("there is no SIP account %q (switchboard sip account list)", target)
		}
		return a, err
	}

	switch sub {
	case "add":
		if *username == "" {
			return fmt.Errorf("--username is required\n%s", sipUsage)
		}
		var userID string
		if *linkUser != "" {
			u, err := st.UserByUsername(ctx, *linkUser)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no user %q to link (switchboard user list)", *linkUser)
			}
			if err != nil {
				return err
			}
			userID = u.ID
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		a, err := sip.NewAccount(*username, *display, userID, *realm, pw, !*disabled)
		if err != nil {
			return err
		}
		if _, err := st.CreateSIPAccount(ctx, a); errors.Is(err, store.ErrExists) {
			return fmt.Errorf("there is already a SIP account %q", *username)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(out, "created SIP account %s (realm %s)\n", a.Username, a.Realm)
		if generated {
			fmt.Fprintf(out, "password: %s\n(shown only now)\n", pw)
		}
		return nil
	case "list":
		list, err := st.SIPAccounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tDISPLAY NAME\tUSER\tSTATUS\tREALM\tCREATED")
		for _, a := range list {
			status := "enabled"
			if !a.Enabled {
				status = "disabled"
			}
			if a.Realm != *realm {
				status += ", needs a new password (realm changed)"
			}
			user := "-"
			if a.UserID != "" {
				user = a.UserID
				if u, err := st.User(ctx, a.UserID); err == nil {
					user = u.Username
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Username, a.DisplayName, user, status, a.Realm,
				a.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "delete":
		a, err := find()
		if err != nil {
			return err
		}
		if err := st.DeleteSIPAccount(ctx, a.ID); err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted SIP account %s\n", a.Username)
		return nil
	case "passwd":
		a, err := find()
		if err != nil {
			return err
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		md5h, shah := sip.HashPassword(a.Username, *realm, pw)
		if err := st.SetSIPAccountSecret(ctx, a.ID, *realm, md5h, shah); err != nil {
			return err
		}
		fmt.Fprintf(out, "new password set for SIP account %s (realm %s)\n", a.Username, *realm)
		if generated {
			fmt.Fprintf(out, "password: %s\n(shown only now)\n", pw)
		}
		return nil
	}
	panic("unreachable: subcommands are checked above")
}
