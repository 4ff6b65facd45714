/**
 * @module harness/sample-sdp
 * Realistic session descriptions for the broker, which only checks their form and passes them on: a Chromium
 * data-channel offer (what a client's offscreen document sends) and a libdatachannel answer (what a headless volunteer
 * sends). The broker tests and the benchmarks use the same ones.
 */

/** A Chromium data-channel offer; `tag` makes each one different (its ICE user fragment). */
export function sampleOfferSdp(tag = 'Xk3d'): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=candidate:1467250027 1 udp 2122260223 192.0.2.10 51472 typ host generation 0 network-id 1',
    `a=ice-ufrag:${tag}`,
    'a=ice-pwd:2Vn9ZbZ6yq0X8cD1tE4rF7gH',
    'a=ice-options:trickle',
    'a=fingerprint:sha-256 3B:9A:21:C4:5E:7F:08:D2:6B:11:E0:93:4C:AF:52:17:8D:60:F9:2E:B4:0C:75:D8:1A:E6:39:C0:52:7B:84:FD',
    'a=setup:actpass',
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n');
}

/** A libdatachannel answer; `tag` makes each one different. */
export function sampleAnswerSdp(tag = 'Qp7r'): string {
  return [
    'v=0',
    'o=rtc 2849178233 0 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=msid-semantic:WMS *',
    'a=setup:active',
    `a=ice-ufrag:${tag}`,
    'a=ice-pwd:Hq2mN8vB4xC6zL1kJ9fD3sA7',
    'a=ice-options:ice2,trickle',
    'a=fingerprint:sha-256 A4:17:5C:E2:90:3B:6D:F8:21:0A:C7:54:B9:E3:1F:86:2D:70:CB:45:9E:08:F1:63:DA:2C:B7:94:E5:10:3F:6A',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=sendrecv',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n');
}
