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
}

// IsDirector reports whether the caller is the company's director (the "admin" of the app).
func (p Principal) IsDirector() bool { return p.Role == roleDirector }

func (p Principal) identity() Identity {
	return Identity{BIIN: p.BIIN, CompanyID: p.CompanyID, UserID: p.UserID, UUID: p.DeviceUUID, SessionID: p.SessionID}
}

func principalOf(ss session) Principal {
	return Principal{UserID: ss.UserID, CompanyID: ss.CompanyID, BIIN: ss.BIIN, Role: ss.Role, SessionID: ss.ID, DeviceUUID: ss.DeviceUUID}
}
