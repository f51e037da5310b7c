/**
 * \file
 * Error strings.
 */
#include "dotpool/error.h"

const char*
dotpool_strerror(int err)
{
	switch(err) {
	case DOTPOOL_OK: return "success";
	case DOTPOOL_ENOMEM: return "out of memory";
	case DOTPOOL_EINVAL: return "invalid argument";
	case DOTPOOL_EFULL: return "no room";
	case DOTPOOL_ENOTFOUND: return "not found";
	case DOTPOOL_EPROTO: return "protocol error";
	case DOTPOOL_EIO: return "connection failed";
	case DOTPOOL_ETLS: return "TLS failure";
	case DOTPOOL_EVERIFY: return "TLS authentication failed";
	case DOTPOOL_ETIMEOUT: return "timed out";
	case DOTPOOL_ECLOSED: return "connection closed";
	case DOTPOOL_ECONFIG: return "configuration error";
	case DOTPOOL_EAGAIN: return "try again";
	}
	return "unknown error";
}
