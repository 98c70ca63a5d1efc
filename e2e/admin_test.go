package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"switchboard/internal/account"
)

// TestAdminInvites drives People, the admins' page of the workspace, as an admin bringing a colleague
// in: Ann (admin) opens People, cannot demote herself (the last admin: the server's refusal is
// shown), creates an invitation link for an agent and reads it from the page. In a second browser
// the newcomer opens the link, creates the account and lands in the workspace, where (not an
// admin) they see no People entry. Ann's list then shows them as an agent; she makes them a member,
// and their page learns it. A second link, revoked, no longer works. Ann disables the newcomer,
// after confirming: their page says they were signed out, their session answers 401, and signing in
// again is refused. Each step is a subtest sharing the browsers.
func TestAdminInvites(t *testing.T) {
	chromiumPath(t)
	start := time.Now()
	srv := startServer(t, nil)
	createUser(t, srv, "ann", "Ann", account.RoleAdmin)

	a, c := startBrowsers(t, "Ann", "Cleo")
	a.signIn(srv.URL, "ann")
	t.Logf("browsers started and Ann signed in after %v", time.Since(start).Round(time.Millisecond))

	const annRow = `[data-testid="admin-user"][data-username="ann"]`
	const cleoRow = `[data-testid="admin-user"][data-username="cleo"]`

	t.Run("OpenPeople", func(t *testing.T) {
		setT(t, a, c)
		a.waitJS(5*time.Second, "the People entry shown to an admin", `document.querySelector('[data-testid="admin-people"]')?.offsetParent !== null`)
		a.click("admin-people")
		a.waitJS(10*time.Second, "People with Ann's account", fmt.Sprintf(`document.querySelector('[data-testid="admin-people-dialog"] %s')`, annRow))
		got := mustEval[map[string]any](a, fmt.Sprintf(`(() => {
			const row = document.querySelector(%q);
			return { focus: document.activeElement?.dataset.testid || '', role: row.dataset.role,
				select: row.querySelector('[data-testid="user-role"]').value, disable: !!row.querySelector('[data-testid="user-disable"]'),
				text: row.textContent, pending: document.querySelector('[data-testid="invite-none"]')?.textContent || '',
				active: row.querySelector('[data-testid="user-last-active"]')?.textContent || '' };
		})()`, annRow))
		if !strings.HasPrefix(got["active"].(string), "Last active") {
			t.Errorf("Ann's row says %q about her last activity, want \"Last active ...\"", got["active"])
		}
		if got["focus"] != "invite-role" {
			t.Errorf("opening People focused %q, want the invitation's role (invite-role)", got["focus"])
		}
		if got["role"] != "admin" || got["select"] != "admin" || got["disable"] != false || !strings.Contains(got["text"].(string), "You") {
			t.Errorf("Ann's own row: %v; want role admin, marked You, without a Disable button", got)
		}
		if got["pending"] != "No pending invitations." {
			t.Errorf("pending invitations: %q, want none", got["pending"])
		}
	})

	t.Run("LastAdminStays", func(t *testing.T) {
		setT(t, a, c)
		// Ann makes herself a member: confirmed, the server refuses, and the page says why.
		a.selectValue(annRow+` [data-testid="user-role"]`, "member")
		a.do(10*time.Second, "saving Ann's role", chromedp.Click(chromedp.CSS(annRow+` [data-testid="user-role-save"]`)))
		a.waitJS(5*time.Second, "the confirmation", `document.querySelector('[data-testid="admin-confirm"]')?.textContent.includes('Give up admin rights?')`)
		a.click("confirm-ok")
		a.waitJS(10*time.Second, "the server's refusal shown", `(() => {
			const e = document.querySelector('[data-testid="admin-error"]');
			return e && !e.hidden && e.textContent.includes('there must be at least one enabled admin'); })()`)
		if got := mustEval[string](a, fmt.Sprintf(`(() => { const r = document.querySelector(%q); return r.dataset.role + '/' + r.querySelector('[data-testid="user-role"]').value; })()`, annRow)); got != "admin/admin" {
			t.Errorf("after the refusal Ann's row shows role/select %s, want admin/admin", got)
		}
		if !mustEval[bool](a, `document.querySelector('[data-testid="admin-people"]').offsetParent !== null`) {
			t.Errorf("the People entry went away although Ann is still an admin")
		}
	})

	var link string
	t.Run("CreateInvitation", func(t *testing.T) {
		setT(t, a, c)
		a.selectValue(`[data-testid="invite-role"]`, "agent")
		a.click("invite-create")
		a.waitJS(10*time.Second, "the invitation link", `document.querySelector('[data-testid="invite-link"]')?.value`)
		link = mustEval[string](a, `document.querySelector('[data-testid="invite-link"]').value`)
		if !strings.HasPrefix(link, srv.URL+"/invite/") || len(link) < len(srv.URL+"/invite/")+20 {
			t.Fatalf("the invitation link is %q, want %s/invite/<token>", link, srv.URL)
		}
		got := mustEval[map[string]any](a, `(() => ({
			label: document.querySelector('[data-testid="invite-result"] label').textContent,
			copy: !!document.querySelector('[data-testid="invite-copy"]'),
			pending: [...document.querySelectorAll('[data-testid="invite-item"]')].map((i) => i.dataset.role),
		}))()`)
		if got["label"] != "Invitation link for an agent" || got["copy"] != true {
			t.Errorf("the link is shown as %v; want it labelled for an agent, with a Copy button", got)
		}
		if p, _ := got["pending"].([]any); len(p) != 1 || p[0] != "agent" {
			t.Errorf("pending invitations: %v, want one for an agent", got["pending"])
		}
	})

	t.Run("AcceptInvitation", func(t *testing.T) {
		setT(t, a, c)
		c.navigate(link)
		c.typeInto("invite-display-name", "Cleo Park")
		c.typeInto("invite-username", "cleo")
		c.typeInto("invite-password", testPassword)
		c.typeInto("invite-confirm", testPassword)
		c.click("invite-submit")
		c.waitJS(15*time.Second, "the workspace", `document.querySelector('[data-testid="workspace"]') && window.__sbChat && window.__sbChat.state === 'connected'`)
		if role := mustEval[string](c, `window.__sbChat.me.role`); role != "agent" {
			t.Errorf("the newcomer's role is %q, want agent", role)
		}
		// Not an admin: no People entry, no "Invite people" on the welcome screen.
		c.waitJS(5*time.Second, "the welcome screen", `document.querySelector('[data-testid="workspace-empty"]')`)
		if shown := mustEval[bool](c, `(() => { const b = document.querySelector('[data-testid="admin-people"]');
			return !!b && b.offsetParent !== null || !!document.querySelector('[data-testid="empty-invite"]'); })()`); shown {
			t.Errorf("a non-admin sees the People entry")
		}
	})

	t.Run("NewcomerListed", func(t *testing.T) {
		setT(t, a, c)
		a.click("admin-refresh")
		a.waitJS(10*time.Second, "Cleo listed as an agent", fmt.Sprintf(`(() => {
			const r = document.querySelector(%q);
			return r && r.dataset.role === 'agent' && r.dataset.disabled === 'false'
				&& r.querySelector('[data-testid="admin-user-name"]').textContent === 'Cleo Park'
				&& r.querySelector('[data-testid="user-role"]').value === 'agent'; })()`, cleoRow))
		// The invitation was used: it is no longer pending.
		a.waitJS(5*time.Second, "no pending invitations", `document.querySelector('[data-testid="invite-none"]')`)
	})

	t.Run("ChangeRole", func(t *testing.T) {
		setT(t, a, c)
		a.selectValue(cleoRow+` [data-testid="user-role"]`, "member")
		a.do(10*time.Second, "saving Cleo's role", chromedp.Click(chromedp.CSS(cleoRow+` [data-testid="user-role-save"]`)))
		a.waitJS(10*time.Second, "Cleo listed as a member", fmt.Sprintf(`document.querySelector(%q)?.dataset.role === 'member'`, cleoRow))
		if e := mustEval[bool](a, `document.querySelector('[data-testid="admin-error"]').hidden`); !e {
			t.Errorf("an error is shown after a role change that worked")
		}
		// Her socket was closed; it reconnects carrying the new role.
		c.waitJS(15*time.Second, "Cleo's page knowing she is a member", `window.__sbChat.me?.role === 'member' && window.__sbChat.state === 'connected'`)
	})

	t.Run("RevokedLinkFails", func(t *testing.T) {
		setT(t, a, c)
		a.selectValue(`[data-testid="invite-role"]`, "member")
		a.click("invite-create")
		a.waitJS(10*time.Second, "a second link", fmt.Sprintf(`(() => { const v = document.querySelector('[data-testid="invite-link"]')?.value; return v && v !== %q; })()`, link))
		second := mustEval[string](a, `document.querySelector('[data-testid="invite-link"]').value`)
		a.waitJS(5*time.Second, "the pending member invitation", `document.querySelector('[data-testid="invite-item"][data-role="member"]')`)
		a.do(10*time.Second, "revoking it", chromedp.Click(chromedp.CSS(`[data-testid="invite-item"][data-role="member"] [data-testid="invite-revoke"]`)))
		a.waitJS(10*time.Second, "no pending invitations", `document.querySelector('[data-testid="invite-none"]')`)
		// Opened in a fresh tab of the newcomer's browser, the revoked link creates nothing.
		c.navigate(second)
		c.typeInto("invite-username", "dan")
		c.typeInto("invite-password", testPassword)
		c.typeInto("invite-confirm", testPassword)
		c.click("invite-submit")
		c.waitJS(10*time.Second, "the invitation refused", `(() => { const e = document.querySelector('[data-testid="invite-error"]');
			return e && !e.hidden && e.textContent.includes('not valid any more'); })()`)
		// Back to the newcomer's workspace (the session is still theirs).
		c.navigate(srv.URL + "/")
		c.waitJS(15*time.Second, "the workspace again", `document.querySelector('[data-testid="workspace"]') && window.__sbChat && window.__sbChat.state === 'connected'`)
	})

	t.Run("DisableSignsOut", func(t *testing.T) {
		setT(t, a, c)
		a.do(10*time.Second, "clicking Disable on Cleo's row", chromedp.Click(chromedp.CSS(cleoRow+` [data-testid="user-disable"]`)))
		a.waitJS(5*time.Second, "the confirmation, Cancel focused", `(() => { const d = document.querySelector('[data-testid="admin-confirm"]');
			return d && d.textContent.includes("Disable Cleo Park's account?") && document.activeElement?.dataset.testid === 'confirm-cancel'; })()`)
		a.click("confirm-ok")
		a.waitJS(10*time.Second, "Cleo shown disabled", fmt.Sprintf(`(() => { const r = document.querySelector(%q);
			return r && r.dataset.disabled === 'true' && r.querySelector('[data-testid="admin-user-disabled"]') && r.querySelector('[data-testid="user-enable"]'); })()`, cleoRow))
		if f := mustEval[string](a, `document.activeElement?.dataset.testid || document.activeElement?.tagName`); f != "user-enable" {
			t.Errorf("after disabling, the focus is on %q, want Cleo's Enable button", f)
		}
		// The newcomer's page: the server closed the socket (1008) and the session is gone.
		c.waitJS(15*time.Second, "the newcomer told they are signed out", `(() => {
			const s = document.querySelector('[data-testid="connection-status"]');
			return s && s.dataset.state === 'unauthorized' && s.textContent.includes('Signed out') && s.querySelector('a[href="/login"]'); })()`)
		if st := mustEval[float64](c, `fetch('/api/v1/auth/session').then((r) => r.status)`); st != 401 {
			t.Errorf("the disabled newcomer's session answers %v, want 401", st)
		}
		// Signing in again is refused, and says why.
		c.navigate(srv.URL + "/login")
		c.typeInto("login-username", "cleo")
		c.typeInto("login-password", testPassword)
		c.click("login-submit")
		c.waitJS(10*time.Second, "the sign-in refused", `(() => { const e = document.querySelector('[data-testid="login-error"]');
			return e && !e.hidden && e.textContent.includes('disabled'); })()`)
		// Escape closes People.
		a.do(5*time.Second, "pressing Escape", chromedp.SendKeys(chromedp.CSS(cleoRow+` [data-testid="user-enable"]`), kb.Escape))
		a.waitJS(5*time.Second, "People closed", `!document.querySelector('[data-testid="admin-people-dialog"]')`)
	})
	t.Logf("TestAdminInvites took %v", time.Since(start).Round(time.Millisecond))
}

// selectValue picks value in the <select> at css as a person would (the value, then a change event).
func (b *browser) selectValue(css, value string) {
	b.t.Helper()
	mustEval[bool](b, fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		if (!s) throw new Error('no select ' + %q);
		s.focus();
		s.value = %q;
		if (s.value !== %q) throw new Error('no option ' + %q);
		s.dispatchEvent(new Event('change', { bubbles: true }));
		return true;
	})()`, css, css, value, value, value))
}
