package auth

// Principal is the authenticated caller of an app endpoint. Every query a feature runs for it is
// scoped by CompanyID in SQL.
type Principal struct {
	UserID     int64
	CompanyID  int64
	BIIN       string
	Role       int
	SessionID  int64
	DeviceUUID string
	// ChangeCounter is the report change counter (migration 00004) as of the access check, read in the
	// same round trip so the report lists' cache needs no query of its own; 0 when not read.
	ChangeCounter int64
}

// IsDirector reports whether the caller is the company's director (the "admin" of the app).
func (p Principal) IsDirector() bool { return p.Role == roleDirector }

func (p Principal) identity() Identity {
	return Identity{BIIN: p.BIIN, CompanyID: p.CompanyID, UserID: p.UserID, UUID: p.DeviceUUID, SessionID: p.SessionID}
}

func principalOf(ss session) Principal {
	return Principal{UserID: ss.UserID, CompanyID: ss.CompanyID, BIIN: ss.BIIN, Role: ss.Role, SessionID: ss.ID, DeviceUUID: ss.DeviceUUID,
		ChangeCounter: ss.ChangeCounter}
}
