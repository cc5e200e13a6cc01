import Foundation

/// An order as Settle stores it and shows it (`object: "order"` in the API).
public struct Order: Sendable, Equatable {
    public var id: UUID
    public var merchantID: UUID
    public var amount: Int64
    public var currency: String
    public var paymentMethod: String
    public var description: String?
    public var metadata: [String: String]
    public var status: OrderStatus
    public var failureCode: String?
    public var createdAt: Date
    /// Raised by every state change; the read cache never replaces a newer version with an older one.
    public var version: Int

    public init(id: UUID, merchantID: UUID, amount: Int64, currency: String, paymentMethod: String, description: String?,
                metadata: [String: String], status: OrderStatus, failureCode: String?, createdAt: Date, version: Int) {
        self.id = id
        self.merchantID = merchantID
        self.amount = amount
        self.currency = currency
        self.paymentMethod = paymentMethod
        self.description = description
        self.metadata = metadata
        self.status = status
        self.failureCode = failureCode
        self.createdAt = createdAt
        self.version = version
    }

    /// A new `pending` order for a validated request.
    public init(id: UUID, merchantID: UUID, new: NewOrder, createdAt: Date) {
        self.init(id: id, merchantID: merchantID, amount: new.amount, currency: new.currency, paymentMethod: new.paymentMethod.rawValue,
                  description: new.description, metadata: new.metadata, status: .pending, failureCode: nil, createdAt: createdAt, version: 1)
    }
}
