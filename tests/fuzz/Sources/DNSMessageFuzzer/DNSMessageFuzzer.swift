import ConnlibCore
import FuzzSupport
import IPPacket
import NIOCore
import PortalMessages

// The `dns-message` fuzz target: the client's DNS codec and stub resolver on one input.
//
// For every input: nothing traps. As a query, a message that parses gets every response the stub builds (address
// answers, PTR, NXDOMAIN, SERVFAIL), and each must parse as a response with the query's id, its question and the
// answers put in. As a response, a message that parses reads back its addresses. The stub resolver decides on the
// input without trapping; an answer it gives parses as a response to the input's id. The TCP framer, fed the
// input in two pieces, returns messages whose lengths with their prefixes never exceed the input. Any violation
// is a `fatalError`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: start, count: start == nil ? 0 : count))
    checkQuery(buffer)
    checkResponse(buffer)
    checkStub(buffer)
    checkFramer(buffer)
    checkNames(buffer)
    return 0
}

let proxyV4 = IPAddress.v4(IPv4Address(100, 96, 0, 1))
let proxyV6 = IPAddress.v6(IPv6Address(high: 0xfd00_2021_1111_8000, low: 1))
let sentinel = IPAddress.v4(IPv4Address(100, 100, 111, 1))

func parsedResponse(_ bytes: ByteBuffer, to query: DNSMessage) -> DNSMessage {
    let response: DNSMessage
    do {
        response = try DNSMessage(parsingResponse: bytes)
    } catch {
        fatalError("a response built for a parsed query does not parse: \(error)")
    }
    check(response.id == query.id, "the response's id differs from the query's")
    check(response.question == query.question, "the response's question differs from the query's")
    return response
}

func checkQuery(_ buffer: ByteBuffer) {
    guard let query = try? DNSMessage(parsingQuery: buffer) else {
        return
    }
    let addresses = parsedResponse(
        query.makeResponse(code: .noError, answers: [.address(proxyV4), .address(proxyV6)], ttl: 1),
        to: query
    )
    check(addresses.answerAddresses == [proxyV4, proxyV6], "the address answers did not read back")
    let name = query.question?.name ?? .root
    let pointer = parsedResponse(query.makeResponse(code: .noError, answers: [.pointer(name)], ttl: 1), to: query)
    check(pointer.answers.count == 1 && pointer.answers[0].type == .ptr, "the PTR answer did not read back")
    check(parsedResponse(query.makeResponse(code: .nameError), to: query).responseCode == .nameError, "NXDOMAIN")
    check(parsedResponse(query.makeServerFailure(), to: query).responseCode == .serverFailure, "SERVFAIL")
}

func checkResponse(_ buffer: ByteBuffer) {
    guard let response = try? DNSMessage(parsingResponse: buffer) else {
        return
    }
    _ = response.answerAddresses
    _ = response.answers.map(\.name.description)
}

/// A stub with a literal, a wildcard and a recursive resource, and one portal upstream covered by a CIDR resource.
func makeStub() -> StubResolver {
    var stub = StubResolver()
    let resources: [ClientResource] = [
        .dns(
            DNSResource(
                id: ResourceID("a"),
                address: "app.corp",
                name: "a",
                addressDescription: nil,
                sites: [],
                ipStack: nil
            )
        ),
        .dns(
            DNSResource(
                id: ResourceID("b"),
                address: "*.corp",
                name: "b",
                addressDescription: nil,
                sites: [],
                ipStack: "ipv4_only"
            )
        ),
        .dns(
            DNSResource(
                id: ResourceID("c"),
                address: "**.example",
                name: "c",
                addressDescription: nil,
                sites: [],
                ipStack: "ipv6_only"
            )
        ),
        .cidr(
            CIDRResource(
                id: ResourceID("d"),
                address: IPNetwork("1.1.1.0/24")!,
                name: "d",
                addressDescription: nil,
                sites: []
            )
        ),
    ]
    stub.setResources(resources)
    stub.setUpstreams(portal: [.ipPort(IPSocketAddress("1.1.1.1:53")!)], system: [])
    return stub
}

nonisolated(unsafe) var stub = makeStub()

func checkStub(_ buffer: ByteBuffer) {
    switch stub.handleQuery(buffer, sentinel: sentinel) {
    case .answer(let bytes, _):
        guard let query = try? DNSMessage(parsingQuery: buffer) else {
            fatalError("the stub answered bytes that are not a query")
        }
        _ = parsedResponse(bytes, to: query)
    case .forwardToGateway(_, let query), .recurse(_, let query, _):
        check(query == buffer, "the stub changed a query it passes on")
    case .drop:
        break
    }
    // The proxy addresses of many inputs would grow without end: start again now and then.
    if stub.records.records.count > 1000 {
        stub = makeStub()
    }
}

func checkFramer(_ buffer: ByteBuffer) {
    var framer = DNSTCPFramer()
    let split = buffer.readableBytes / 2
    framer.append(buffer.getSlice(at: buffer.readerIndex, length: split)!)
    framer.append(buffer.getSlice(at: buffer.readerIndex + split, length: buffer.readableBytes - split)!)
    var consumed = 0
    while true {
        let message: ByteBuffer?
        do {
            message = try framer.nextMessage()
        } catch {
            return
        }
        guard let message else {
            break
        }
        consumed += 2 + message.readableBytes
        check(message.readableBytes > 0, "an empty message came out of the framer")
    }
    check(consumed + framer.bufferedBytes == buffer.readableBytes, "the framer lost or invented bytes")
}

func checkNames(_ buffer: ByteBuffer) {
    let text = String(decoding: buffer.readableBytesView, as: UTF8.self)
    let halves = text.split(separator: " ", maxSplits: 1).map(String.init)
    guard halves.count == 2, let pattern = try? DomainPattern(halves[0]), let name = try? DomainName(halves[1]) else {
        return
    }
    check(pattern.matches(name) == pattern.contains(name), "contains and matches disagree")
    check(pattern.text == pattern.text.lowercased(), "a pattern kept upper case")
    check(name.description == name.description.lowercased(), "a name kept upper case")
}
