package httpd

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// uploadFile stores a file shared in a meeting. Only a participant of that meeting may upload: it
// proves it with the session token from its joined message.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	roomID := r.PathValue("room")
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, sessionRoom, ok := s.cfg.Sessions.SessionRoom(token)
	if token == "" || !ok || sessionRoom != roomID {
		writeError(w, http.StatusUnauthorized, "unauthorized", "upload with the session token of a participant of this meeting")
		return
	}
	s.saveUpload(w, r, roomID, FileInfo)
}

// uploadConversationFile stores a file a member shares in a conversation;
// the message that sends it names its id.
func (s *Server) uploadConversationFile(w http.ResponseWriter, r *http.Request) {
	conv := r.PathValue("id")
	if room, ok := s.cfg.ConversationFiles(w, r, conv); ok {
		s.saveUpload(w, r, room, func(f store.File) protocol.FileInfo {
			fi := FileInfo(f)
			fi.URL = "/api/v1/conversations/" + url.PathEscape(conv) + "/files/" + url.PathEscape(f.ID)
			return fi
		})
	}
}

func (s *Server) downloadConversationFile(w http.ResponseWriter, r *http.Request) {
	if room, ok := s.cfg.ConversationFiles(w, r, r.PathValue("id")); ok {
		s.serveFile(w, r, room, r.PathValue("file"))
	}
}

// saveUpload stores the request body as a file of room (the file name is
// in ?name=, the type in Content-Type) and answers with its description.
func (s *Server) saveUpload(w http.ResponseWriter, r *http.Request, roomID string, describe func(store.File) protocol.FileInfo) {
	if r.ContentLength > s.cfg.MaxUpload {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than the limit of "+strconv.FormatInt(s.cfg.MaxUpload, 10)+" bytes")
		return
	}
	name := cleanFileName(r.URL.Query().Get("name"))
	ctype := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ctype); err == nil {
		ctype = mt
	} else {
		ctype = "application/octet-stream"
	}
	f, err := s.cfg.Files.SaveFile(r.Context(), store.File{Room: roomID, Name: name, ContentType: ctype}, r.Body, s.cfg.MaxUpload)
	if errors.Is(err, store.ErrTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than the limit of "+strconv.FormatInt(s.cfg.MaxUpload, 10)+" bytes")
		return
	}
	if err != nil {
		s.cfg.Logger.Error("upload failed", "room", roomID, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not store the file")
		return
	}
	writeJSON(w, http.StatusCreated, describe(f))
}

// FileInfo is how a stored file is described to clients.
func FileInfo(f store.File) protocol.FileInfo {
	return protocol.FileInfo{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.ContentType,
		URL: "/api/v1/rooms/" + url.PathEscape(f.Room) + "/files/" + url.PathEscape(f.ID)}
}

// inlineSafe are types a browser may keep: none of them runs script. Everything else is served as
// application/octet-stream, and everything is an attachment, so an uploaded HTML page never renders
// on our origin.
var inlineSafe = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": true, "text/plain": true, "audio/mpeg": true, "audio/ogg": true,
	"video/mp4": true, "video/webm": true, "application/zip": true,
}

// downloadFile serves a meeting's file to anyone with its link. Meeting ids
// never contain a colon; the files of conversations live under "conv:<id>"
// and are served only to members, by downloadConversationFile.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if strings.Contains(room, ":") {
		writeError(w, http.StatusNotFound, "not_found", "no such file here")
		return
	}
	s.serveFile(w, r, room, r.PathValue("file"))
}

// serveFile sends a stored file so that it can never run as a page of ours.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, room, id string) {
	meta, f, err := s.cfg.Files.OpenFile(r.Context(), room, id)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such file here")
		return
	}
	defer f.Close()
	ctype := meta.ContentType
	if !inlineSafe[ctype] {
		ctype = "application/octet-stream"
	}
	if ctype == "text/plain" {
		ctype += "; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.Name}))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", meta.CreatedAt, f)
}

// cleanFileName keeps a display name: no directories, no control characters, at most 200 characters.
func cleanFileName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if name == "" || name == "." || name == "/" || name == ".." {
		name = "file"
	}
	return name
}
