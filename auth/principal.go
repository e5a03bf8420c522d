package auth

import "github.com/forteleasing/inspections"

// Principal is the authenticated caller; the root package owns it so features need not import auth for it.
type Principal = inspections.Principal

func identityOf(p Principal) Identity {
	return Identity{BIIN: p.BIIN, CompanyID: p.CompanyID, UserID: p.UserID, UUID: p.DeviceUUID, SessionID: p.SessionID}
}

func principalOf(ss session) Principal {
	return Principal{UserID: ss.UserID, CompanyID: ss.CompanyID, BIIN: ss.BIIN, Role: ss.Role, SessionID: ss.ID, DeviceUUID: ss.DeviceUUID}
}
