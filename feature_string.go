package overlay

import "strconv"

// The String methods print a mode as its option value. A Default value
// prints the kernel default it stands for (module parameters as
// shipped), marked "(default)"; a value outside the defined ones prints
// as Type(n).

func (s Switch) String() string {
	switch s {
	case SwitchDefault:
		return "default"
	case SwitchOn:
		return "on"
	case SwitchOff:
		return "off"
	}
	return "Switch(" + strconv.Itoa(int(s)) + ")"
}

func (m RedirectMode) String() string {
	switch m {
	case RedirectDefault:
		return "follow (default)"
	case RedirectOn:
		return "on"
	case RedirectFollow:
		return "follow"
	case RedirectNoFollow:
		return "nofollow"
	case RedirectOff:
		return "off"
	}
	return "RedirectMode(" + strconv.Itoa(int(m)) + ")"
}

func (m XinoMode) String() string {
	switch m {
	case XinoDefault:
		return "off (default)"
	case XinoOff:
		return "off"
	case XinoAuto:
		return "auto"
	case XinoOn:
		return "on"
	}
	return "XinoMode(" + strconv.Itoa(int(m)) + ")"
}

func (m UUIDMode) String() string {
	switch m {
	case UUIDDefault:
		return "auto (default)"
	case UUIDOff:
		return "off"
	case UUIDNull:
		return "null"
	case UUIDAuto:
		return "auto"
	case UUIDOn:
		return "on"
	}
	return "UUIDMode(" + strconv.Itoa(int(m)) + ")"
}

func (m FsyncMode) String() string {
	switch m {
	case FsyncDefault:
		return "auto (default)"
	case FsyncVolatile:
		return "volatile"
	case FsyncAuto:
		return "auto"
	case FsyncStrict:
		return "strict"
	}
	return "FsyncMode(" + strconv.Itoa(int(m)) + ")"
}

func (m VerityMode) String() string {
	switch m {
	case VerityDefault:
		return "off (default)"
	case VerityOff:
		return "off"
	case VerityOn:
		return "on"
	case VerityRequire:
		return "require"
	}
	return "VerityMode(" + strconv.Itoa(int(m)) + ")"
}
