package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/store"
)

const userUsage = `usage:
  switchboard user add --username U [--display-name D] [--email E] [--role admin|agent|member] [--password-stdin]
  switchboard user list
  switchboard user disable USERNAME        (ends the user's sessions at once)
  switchboard user enable USERNAME
  switchboard user reset-password USERNAME [--password-stdin]
  switchboard user reset-totp USERNAME     (turns two-factor sign-in off, for a lost phone)
  switchboard user invite [--role admin|agent|member] [--ttl 168h] [--public-url URL]
                                           (prints a link that creates one account)
Each takes --data-dir and --database like serve. Without --password-stdin a
password is generated and printed once.`

// user manages accounts from the command line: the first admin of a
// scripted install, and recovery when nobody can sign in.
func user(args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add", "list", "disable", "enable", "reset-password", "reset-totp", "invite":
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(out, userUsage)
		return nil
	default:
		return fmt.Errorf("unknown user subcommand %q\n%s", sub, userUsage)
	}
	fs := flag.NewFlagSet("switchboard user "+sub, flag.ContinueOnError)
	openStore := storeFlags(fs)
	username := fs.String("username", "", "the new user's `name` (a-z 0-9 . _ -, at most 32)")
	display := fs.String("display-name", "", "the `name` people see (default: the username)")
	email := fs.String("email", "", "e-mail `address` (optional; single sign-on matches users by it)")
	role := fs.String("role", account.RoleMember, "admin, agent or member")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	ttl := fs.Duration("ttl", 0, "how long an invitation stays usable (default: the server's, 7 days), at most 720h")
	publicURL := fs.String("public-url", envOr("SWITCHBOARD_PUBLIC_URL", ""), "the server's public `URL`, to print the invitation's whole link")
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
			return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), userUsage)
		}
	}
	needTarget := sub == "disable" || sub == "enable" || sub == "reset-password" || sub == "reset-totp"
	switch {
	case needTarget && target == "":
		return fmt.Errorf("switchboard user %s needs a USERNAME\n%s", sub, userUsage)
	case !needTarget && target != "":
		return fmt.Errorf("switchboard user %s takes no argument %q\n%s", sub, target, userUsage)
	}

	password := func() (string, bool, error) {
		if !*pwStdin {
			return account.GeneratePassword(), true, nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", false, fmt.Errorf("read the password from standard input: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	}

	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := account.New(account.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	find := func() (store.User, error) {
		u, err := svc.UserByUsername(ctx, target)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, fmt.Errorf("there is no user %q (switchboard user list)", target)
		}
		return u, err
	}

	switch sub {
	case "add":
		if *username == "" {
			return fmt.Errorf("--username is required\n%s", userUsage)
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		u, err := svc.CreateUser(ctx, account.NewUser{Username: *username, DisplayName: *display, Email: *email, Role: *role, Password: pw})
		switch {
		case errors.Is(err, store.ErrUsernameTaken):
			return fmt.Errorf("the username %q is taken", *username)
		case errors.Is(err, store.ErrEmailTaken):
			return fmt.Errorf("another user has the e-mail address %q", *email)
		case err != nil:
			return err
		}
		fmt.Fprintf(out, "created %s user %s (%s)\n", u.Role, u.Username, u.ID)
		if generated {
			fmt.Fprintf(out, "password: %s\n(shown only now; they can change it after signing in)\n", pw)
		}
		return nil
	case "list":
		users, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tDISPLAY NAME\tROLE\tSTATUS\t2FA\tCREATED\tID")
		for _, u := range users {
			status := "active"
			switch {
			case u.Disabled:
				status = "disabled"
			case u.LockedUntil.After(now):
				status = "locked until " + u.LockedUntil.Local().Format(time.DateTime)
			}
			twoFA := "off"
			if u.TOTPSecret != "" {
				twoFA = "on"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.DisplayName, u.Role, status, twoFA,
				u.CreatedAt.Local().Format(time.DateTime), u.ID)
		}
		return tw.Flush()
	case "disable", "enable":
		u, err := find()
		if err != nil {
			return err
		}
		if _, err := svc.SetDisabled(ctx, u.ID, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "%sd %s\n", sub, u.Username)
		return nil
	case "reset-password":
		u, err := find()
		if err != nil {
			return err
		}
		pw, generated, err := password()
		if err != nil {
			return err
		}
		if err := svc.ResetPassword(ctx, u.ID, pw); err != nil {
			return err
		}
		fmt.Fprintf(out, "new password set for %s; their sessions have ended and any sign-in lock is lifted\n", u.Username)
		if generated {
			fmt.Fprintf(out, "password: %s\n(shown only now)\n", pw)
		}
		return nil
	case "reset-totp":
		u, err := find()
		if err != nil {
			return err
		}
		if err := svc.ResetTOTP(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(out, "two-factor sign-in is off for %s\n", u.Username)
		return nil
	case "invite":
		d := *ttl
		if d == 0 {
			d = svc.InviteTTL()
		}
		inv, token, err := svc.CreateInvite(ctx, *role, d, "")
		if err != nil {
			return err
		}
		link := strings.TrimSuffix(*publicURL, "/") + "/invite/" + token
		fmt.Fprintf(out, "invitation for one %s account, usable once until %s:\n%s\n", inv.Role, inv.ExpiresAt.Local().Format(time.DateTime), link)
		if *publicURL == "" {
			fmt.Fprintln(out, "(put the server's address in front, or give --public-url)")
		}
		return nil
	}
	panic("unreachable: subcommands are checked above")
}
