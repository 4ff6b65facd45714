// ferry_tun: attach to a Linux TUN device and read its packets on Node's own event loop.
//
// Why it exists: Node has no ioctl, so it cannot attach to /dev/net/tun (TUNSETIFF); and a TUN file descriptor is
// neither a socket nor a pipe, so net.Socket refuses it and fs streams spin on EAGAIN. Here the descriptor is opened
// non-blocking and watched with a libuv poll handle on the main loop; when it is readable every waiting packet is read
// at once and handed to JavaScript in one call. Writing is fs.writeSync on the same descriptor.
//
// The helper runs unprivileged: it attaches to a persistent device that the privileged service created and gave to
// the helper's user (`ip tuntap add ... user UID`), which the kernel lets that user open. Nothing here needs
// CAP_NET_ADMIN. native-helper/tun/tun-device.ts loads it.
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

// The largest packet a TUN device hands over (its MTU is at most 65535).
constexpr size_t kMaxPacketBytes = 65535;
// Most packets read in one readiness callback: bounds the time one callback holds the loop and the batch's memory.
constexpr int kMaxPacketsPerBatch = 256;

napi_value Throw(napi_env env, const char* code, const std::string& message) {
  napi_throw_error(env, code, message.c_str());
  return nullptr;
}

// openTun(name: string): number. Attaches to the TUN device `name` (IFF_TUN | IFF_NO_PI: bare IP packets), non-blocking.
napi_value OpenTun(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[IFNAMSIZ] = {0};
  size_t length = 0;
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &length) != napi_ok || length == 0 ||
      length >= IFNAMSIZ - 1) {
    return Throw(env, "FERRY_ERR_TUN_ARGS", "openTun(name) takes an interface name of 1 to 14 characters");
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Throw(env, "FERRY_ERR_TUN_OPEN", std::string("cannot open /dev/net/tun: ") + strerror(errno));
  struct ifreq request;
  memset(&request, 0, sizeof(request));
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(request.ifr_name, name, length);  // length < IFNAMSIZ - 1, and request is zeroed: NUL-terminated
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int error = errno;
    close(fd);
    return Throw(env, "FERRY_ERR_TUN_ATTACH",
                 std::string("cannot attach to TUN device ") + name + ": " + strerror(error) +
                     (error == EPERM ? " (it must exist and belong to this user: the Ferry service creates it)" : ""));
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

struct Reader {
  napi_env env;
  uv_poll_t poll;
  int fd;
  napi_ref callback;
  std::vector<uint8_t> buffer;
  bool closing;
};

void DeliverBatch(Reader* reader) {
  napi_env env = reader->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value packets;
  napi_create_array(env, &packets);
  uint32_t count = 0;
  int read_error = 0;
  while (count < static_cast<uint32_t>(kMaxPacketsPerBatch)) {
    ssize_t got = read(reader->fd, reader->buffer.data(), reader->buffer.size());
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) read_error = errno;
      break;
    }
    if (got == 0) break;
    void* data = nullptr;
    napi_value packet;
    napi_create_buffer_copy(env, static_cast<size_t>(got), reader->buffer.data(), &data, &packet);
    napi_set_element(env, packets, count++, packet);
  }
  napi_value callback;
  napi_get_reference_value(env, reader->callback, &callback);
  napi_value global;
  napi_get_global(env, &global);
  napi_value error = nullptr;
  if (read_error != 0) {
    napi_value message;
    std::string text = std::string("reading the TUN device failed: ") + strerror(read_error);
    napi_create_string_utf8(env, text.c_str(), text.size(), &message);
    napi_create_error(env, nullptr, message, &error);
  } else {
    napi_get_null(env, &error);
  }
  napi_value args[2] = {error, packets};
  napi_value ignored;
  // A throwing callback must not take the loop down from inside a poll callback: the exception is reported as
  // uncaught by Node, like any event handler's.
  if (napi_call_function(env, global, callback, 2, args, &ignored) == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

void OnReadable(uv_poll_t* handle, int status, int) {
  Reader* reader = static_cast<Reader*>(handle->data);
  if (reader->closing) return;
  (void)status;
  DeliverBatch(reader);
}

void OnClosed(uv_handle_t* handle) {
  Reader* reader = static_cast<Reader*>(handle->data);
  napi_delete_reference(reader->env, reader->callback);
  delete reader;
}

void FreeReaderHandle(napi_env, void*, void*) {}

// startReading(fd: number, onPackets: (error: Error | null, packets: Buffer[]) => void): External
napi_value StartReading(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  napi_valuetype type;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &type) != napi_ok ||
      type != napi_function) {
    return Throw(env, "FERRY_ERR_TUN_ARGS", "startReading(fd, onPackets) takes a descriptor and a function");
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Reader* reader = new Reader{env, {}, fd, nullptr, std::vector<uint8_t>(kMaxPacketBytes), false};
  napi_create_reference(env, argv[1], 1, &reader->callback);
  reader->poll.data = reader;
  int error = uv_poll_init(loop, &reader->poll, fd);
  if (error == 0) error = uv_poll_start(&reader->poll, UV_READABLE, OnReadable);
  if (error != 0) {
    napi_delete_reference(env, reader->callback);
    delete reader;
    return Throw(env, "FERRY_ERR_TUN_POLL", std::string("cannot watch the TUN device: ") + uv_strerror(error));
  }
  napi_value handle;
  napi_create_external(env, reader, FreeReaderHandle, nullptr, &handle);
  return handle;
}

// stopReading(handle: External): void. Stops the watch; the descriptor stays open (the caller closes it).
napi_value StopReading(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  if (argc != 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == nullptr) {
    return Throw(env, "FERRY_ERR_TUN_ARGS", "stopReading(handle) takes what startReading returned");
  }
  Reader* reader = static_cast<Reader*>(data);
  if (!reader->closing) {
    reader->closing = true;
    uv_poll_stop(&reader->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&reader->poll), OnClosed);
  }
  return nullptr;
}

// peerUid(fd: number): number. The user id of the process at the other end of a Unix socket (SO_PEERCRED), as the
// kernel recorded it at connect(): the privileged service serves only the user it was installed for.
napi_value PeerUid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    return Throw(env, "FERRY_ERR_TUN_ARGS", "peerUid(fd) takes a socket descriptor");
  }
  struct ucred credentials;
  socklen_t length = sizeof(credentials);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) {
    return Throw(env, "FERRY_ERR_TUN_PEER", std::string("cannot read the peer's credentials: ") + strerror(errno));
  }
  napi_value result;
  napi_create_uint32(env, credentials.uid, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"openTun", nullptr, OpenTun, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"startReading", nullptr, StartReading, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stopReading", nullptr, StopReading, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"peerUid", nullptr, PeerUid, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
