// Package web embeds the Switchboard web app and JavaScript SDK.
//
// Layout of the embedded tree (rooted at static/):
//
//	index.html          single-page app shell, served for "/" and "/m/{room}"
//	app/*.js, app/*.css the web app (ES modules, no build step)
//	sdk/switchboard.js  the JS SDK, served at /sdk/switchboard.js (with CORS)
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the web app's files, rooted at static/ (so "index.html",
// "app/main.js", "sdk/switchboard.js").
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub only fails for an invalid path; "static" is valid.
		panic(err)
	}
	return sub
}
